"""One fuzz case: the seed project with some files mutated, and the CLI command to run on it."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.fuzz import seeds
from tests.fuzz.mutate import dump_yaml, mutate_data, mutate_json, mutate_text

__all__ = ["KINDS", "FuzzCase", "generate_case"]

ROOT = "{root}"
"""Stands for the project folder in a case's arguments and file texts (filled in by the worker)."""

CANARY = "CANARY"
"""A file that appears in the project folder only if a hostile reference ran code."""


@dataclass(frozen=True)
class FuzzCase:
    """A mutated project and one command to run in it.

    Attributes:
        kind: What was mutated: flow, settings, eval, input or hostile.
        args: The CLI arguments (after `--project ROOT`), `{root}` standing for the folder.
        files: Files written over the seed project, as text or bytes.
        dirs: Empty folders to create (to try shadowing standard-library modules).
    """

    kind: str
    args: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The case as one JSON line for the worker (bytes as base64)."""
        files = {
            path: {"b64": base64.b64encode(content).decode()}
            if isinstance(content, bytes)
            else {"text": content}
            for path, content in self.files.items()
        }
        payload = {"kind": self.kind, "args": self.args, "files": files, "dirs": self.dirs}
        return json.dumps(payload)

    def describe(self) -> str:
        """A short account of the case, for failure messages."""
        shown = {path: _preview(content) for path, content in self.files.items()}
        command = " ".join(self.args)[:300]
        return f"{self.kind}: stepladder {command}\nfiles: {shown}\ndirs: {self.dirs}"


def _preview(content: str | bytes, limit: int = 600) -> str:
    text = repr(content)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(content)} long)"


def _mutated_yaml(text: str, rng: random.Random) -> str | bytes:
    """Mutate a YAML document by structure, by text, or both."""
    how = rng.randrange(4)
    if how in (0, 1):
        text = dump_yaml(mutate_data(yaml.safe_load(text), rng, steps=rng.randint(1, 4)))
    if how in (1, 2, 3):
        return mutate_text(text, rng, steps=rng.randint(1, 2))
    return text


def _flow_case(rng: random.Random) -> FuzzCase:
    name = rng.choice(["control.yaml", *seeds.EXAMPLE_FLOWS])
    text = seeds.CONTROL_FLOW if name == "control.yaml" else seeds.EXAMPLE_FLOWS[name]
    path = f"flows/{name}"
    args = ["validate", f"{ROOT}/{path}"]
    if name in seeds.FUNCTION_FLOWS and rng.random() < 0.5:
        args = ["run", f"{ROOT}/{path}", "--input", json.dumps(seeds.SEED_INPUTS[name])]
    return FuzzCase("flow", args, {path: _mutated_yaml(text, rng)})


def _settings_case(rng: random.Random) -> FuzzCase:
    command = rng.choice(["validate", "run"])
    args = [command, "control"] + (["--input", '{"text": "hi"}'] if command == "run" else [])
    return FuzzCase("settings", args, {"stepladder.yaml": _mutated_yaml(seeds.SETTINGS, rng)})


def _eval_case(rng: random.Random) -> FuzzCase:
    args = ["eval", f"{ROOT}/evalsets/control.yaml", "--limit", "2", "--json"]
    if rng.random() < 0.7:
        return FuzzCase(
            "eval", args, {"evalsets/control.yaml": _mutated_yaml(seeds.CONTROL_SPEC, rng)}
        )
    lines = seeds.CONTROL_CASES.splitlines()
    at = rng.randrange(len(lines))
    lines[at] = str(mutate_json(json.loads(lines[at]), rng))
    return FuzzCase("eval", args, {"evalsets/control.jsonl": "\n".join(lines) + "\n"})


def _input_case(rng: random.Random) -> FuzzCase:
    name = rng.choice(seeds.FUNCTION_FLOWS)
    flow = name.removesuffix(".yaml")
    value = mutate_json(seeds.SEED_INPUTS[name], rng)
    where = rng.random()
    if where < 0.1:
        return FuzzCase(
            "input",
            [
                "run",
                flow,
                "--input",
                rng.choice(["@/dev/zero", f"@{ROOT}/missing.json", f"@{ROOT}", "@", "@/dev/null"]),
            ],
        )
    if isinstance(value, bytes) or "\x00" in value or len(value) > 2000 or where < 0.5:
        return FuzzCase(
            "input", ["run", flow, "--input", f"@{ROOT}/input.json"], {"input.json": value}
        )
    return FuzzCase("input", ["run", flow, "--input", value])


HOSTILE_CALLS: dict[str, tuple[str, Any]] = {
    "command": ("os:system", "touch {root}/CANARY"),
    "cmd": ("subprocess:getoutput", "touch {root}/CANARY"),
    "args": ("subprocess:run", ["touch", "{root}/CANARY"]),
    "name": ("importlib:import_module", "antigravity"),
    "source": ("builtins:exec", "open('{root}/CANARY', 'w')"),
}
"""Per read key, a hostile target taking it and an input that would leave the canary."""

HOSTILE_PREFIXES = (
    "",
    "stepladder.serve.auth:",
    "stepladder.runtimes.models:",
    "stepladder.specs.references:",
    "stepladder.flows.run:",
    "test.support:",
    "flows.fuzz_steps:",
    "flows.support_steps:",
)
"""Modules a hostile reference tries to walk through to reach its target."""


def _hostile_case(rng: random.Random) -> FuzzCase:
    key = rng.choice(sorted(HOSTILE_CALLS))
    target, value = HOSTILE_CALLS[key]
    prefix = rng.choice(HOSTILE_PREFIXES)
    reference = f"{prefix}{target.replace(':', '.')}" if prefix else target
    shadow = rng.choice([[], ["test"], ["os"], ["subprocess"], ["importlib"]])
    where = rng.choice(["call", "router"])
    flow = {
        "name": "hostile",
        "state": {key: {"type": "any", "input": True}, "out": "any"},
        "nodes": [
            {
                "id": "h",
                "kind": "function",
                "call": "flows.fuzz_steps:size",
                "reads": [key],
                "writes": ["out"],
            }
        ],
    }
    if where == "call":
        flow["nodes"][0]["call"] = reference
    else:
        flow["nodes"][0]["call"] = "flows.fuzz_steps:nothing"
        flow["nodes"][0]["reads"] = []
        flow["edges"] = [
            {"from": "START", "to": "h"},
            {"from": "h", "router": reference, "cases": {"x": "END"}, "default": "END"},
        ]
    command = rng.choice(["validate", "run"])
    args = [command, f"{ROOT}/flows/hostile.yaml"]
    if command == "run":
        args += ["--input", json.dumps({key: value})]
    return FuzzCase("hostile", args, {"flows/hostile.yaml": dump_yaml(flow)}, shadow)


KINDS = {
    "flow": (_flow_case, 0.35),
    "settings": (_settings_case, 0.15),
    "eval": (_eval_case, 0.10),
    "input": (_input_case, 0.25),
    "hostile": (_hostile_case, 0.15),
}


def generate_case(rng: random.Random) -> FuzzCase:
    """Draw one case: pick what to mutate (by the weights in KINDS), then mutate it."""
    makers = [maker for maker, _ in KINDS.values()]
    weights = [weight for _, weight in KINDS.values()]
    return rng.choices(makers, weights)[0](rng)
