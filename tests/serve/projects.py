"""Temporary projects the service tests serve: function-node flows, and a desk whose reply
node climbs small -> frontier (no key) -> human on a fake model server."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS

STEPS = """
import asyncio


def compose(name: str, times: int) -> str:
    return " ".join([f"hello {name}"] * times)


def measure(greeting: str) -> int:
    return len(greeting)


RUNNING = [0]  # wait steps in progress in this server process


async def wait(seconds: float) -> dict:
    # Sleep; say how many wait steps (this one included) were running at once at most.
    RUNNING[0] += 1
    most = RUNNING[0]
    try:
        await asyncio.sleep(seconds)
        most = max(most, RUNNING[0])
    finally:
        RUNNING[0] -= 1
    return {"waited": seconds, "alongside": most}


def explode(name: str) -> str:
    raise ValueError(f"cannot greet {name}")


def first(message: str) -> str:
    return message.strip()


def after(reply: str) -> str:
    return f"sent: {reply}"
"""
GREET = """
name: greet
description: Greet someone, a number of times.
state:
  name: {type: str, input: true, description: Who to greet.}
  times: {type: int, input: true, default: 1}
  greeting: str
  length: {type: int, description: Characters in the greeting.}
nodes:
  - {id: compose, kind: function, call: "flows.steps:compose", reads: [name, times],
     writes: [greeting]}
  - {id: measure, kind: function, call: "flows.steps:measure", reads: [greeting], writes: [length]}
"""
WAIT = """
name: wait
state:
  seconds: {type: float, input: true}
  waited: float
  alongside: int
nodes:
  - {id: wait, kind: function, call: "flows.steps:wait", reads: [seconds],
     writes: [waited, alongside]}
"""
EXPLODE = """
name: explode
state:
  name: {type: str, input: true}
  greeting: str
nodes:
  - {id: explode, kind: function, call: "flows.steps:explode", reads: [name], writes: [greeting]}
"""
BROKEN = """
name: broken
state:
  name: {type: str, input: true}
nodes:
  - {id: oops, kind: teleport, reads: [name]}
"""
DESK = """
name: desk
state:
  message: {type: str, input: true}
  text: str
  reply: str
  sent: str
nodes:
  - {id: first, kind: function, call: "flows.steps:first", reads: [message], writes: [text]}
  - {id: reply, kind: generate, reads: [text], output: reply, max_chars: 10, retries: 0,
     escalate: {}}
  - {id: after, kind: function, call: "flows.steps:after", reads: [reply], writes: [sent]}
"""
ASK = """
name: ask_{tier}
state:
  message: {{type: str, input: true}}
  reply: str
nodes:
  - {{id: reply, kind: generate, tier: {tier}, reads: [message], output: reply, retries: 0}}
"""
TOO_LONG = '{"reply": "far too long for ten"}'


def function_project(root: Path) -> Path:
    """Flows of function nodes only (and one file that does not compile)."""
    files = {
        "flows/steps.py": STEPS,
        "flows/greet.yaml": GREET,
        "flows/wait.yaml": WAIT,
        "flows/explode.yaml": EXPLODE,
        "flows/broken.yaml": BROKEN,
    }
    return write_project(root, files, "name: functions\n")


def desk_project(root: Path, chat_port: int, down_port: int) -> Path:
    """`desk` pauses for a person; `ask_small` asks the fake server; `ask_down` uses a tier
    whose server is not running; `ask_locked` a tier whose key variable is not set."""
    url = "http://127.0.0.1:{}/v1"
    settings = (
        "name: desk\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "{url.format(chat_port)}", model: m}}\n'
        f"  frontier: {{runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: {KEYLESS}}}\n"
        f'  down: {{runtime: openai-compatible, base_url: "{url.format(down_port)}", model: m,'
        " timeout_s: 5}\n"
        f'  locked: {{runtime: openai-compatible, base_url: "{url.format(chat_port)}", model: m,'
        f" api_key_env: {KEYLESS}}}\n"
        "ladder: [small, frontier, human]\n"
    )
    files = {
        "flows/steps.py": STEPS,
        "flows/desk.yaml": DESK,
        "flows/ask_small.yaml": ASK.format(tier="small"),
        "flows/ask_down.yaml": ASK.format(tier="down"),
        "flows/ask_locked.yaml": ASK.format(tier="locked"),
    }
    return write_project(root, files, settings)


FUZZ_STEPS = """
def compose(name: str, times: int, tags: list[str], mood: str) -> str:
    return " ".join([f"hello {name}"] * min(times, 3)) + "".join(f" #{t}" for t in tags) + mood


def measure(greeting: str) -> int:
    return len(greeting)


def count(items: dict) -> int:
    return len(items)
"""
FUZZ_GREET = """
name: greet
description: Greet someone, a number of times.
state:
  name: {type: str, input: true, description: Who to greet.}
  times: {type: int, input: true, default: 1}
  tags: {type: "list[str]", input: true, default: []}
  mood: {type: enum, input: true, default: "none", values: [none, glad, sad]}
  greeting: str
  length: int
nodes:
  - {id: compose, kind: function, call: "flows.steps:compose", reads: [name, times, tags, mood],
     writes: [greeting]}
  - {id: measure, kind: function, call: "flows.steps:measure", reads: [greeting], writes: [length]}
"""
FUZZ_COUNT = """
name: count
state:
  items: {type: dict, input: true, default: {}}
  size: int
nodes:
  - {id: count, kind: function, call: "flows.steps:count", reads: [items], writes: [size]}
"""


def fuzz_project(root: Path) -> Path:
    """Function flows that end for every input (what schemathesis is pointed at)."""
    files = {"flows/steps.py": FUZZ_STEPS, "flows/greet.yaml": FUZZ_GREET,
             "flows/count.yaml": FUZZ_COUNT}  # fmt: skip
    return write_project(root, files, "name: fuzz\n")


HARD_STEPS = """
import time
from pathlib import Path

HERE = Path(__file__).parent


def spin(name: str) -> str:
    (HERE / "spinning").touch()
    deadline = time.monotonic() + 900  # longer than the test waits: it ends on `go`
    look_at = 0.0
    total = 0
    while time.monotonic() < deadline:
        total += sum(range(20_000))  # busy: holds the GIL as a CPU-bound callable does
        if time.monotonic() >= look_at:  # a system call every 20 ms, not after each sum
            if (HERE / "go").exists():
                break
            look_at = time.monotonic() + 0.02
    return f"spun {name}"


def echo(name: str) -> str:
    return name


def again(turns: int) -> dict:
    return {"turns": turns + 1, "done": "no"}
"""
SPIN = """
name: spin
state:
  name: {type: str, input: true}
  result: str
nodes:
  - {id: spin, kind: function, call: "flows.steps:spin", reads: [name], writes: [result]}
"""
ECHO = """
name: echo
state:
  name: {type: str, input: true}
  said: str
nodes:
  - {id: echo, kind: function, call: "flows.steps:echo", reads: [name], writes: [said]}
"""
# A loop whose exit is never taken (its step `again` never says "yes"); also used by
# tests/flows/test_run_threads.py.
HARD_LOOP = """
name: loop
state:
  turns: {type: int, input: true, default: 0}
  done: str
nodes:
  - {id: again, kind: function, call: "flows.steps:again", reads: [turns], writes: [turns, done]}
edges:
  - {from: START, to: again}
  - {from: again, when: done, cases: {"yes": END}, default: again}
"""


def hardening_project(root: Path) -> Path:
    """`spin` (a synchronous, CPU-bound node that runs until the file `flows/go` appears),
    `echo`, and `loop` (whose exit is never taken)."""
    files = {"flows/steps.py": HARD_STEPS, "flows/spin.yaml": SPIN, "flows/echo.yaml": ECHO,
             "flows/loop.yaml": HARD_LOOP}  # fmt: skip
    return write_project(root, files, "name: hard\n")
