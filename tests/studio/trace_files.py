"""A project with traced runs for the studio's runs and trace pages.

The span files of `tests/tracing/span_files.py` (FAILED, HELLO, UNFINISHED), plus:

- LONG (flow `digest`, OK, newest): a 10 min run whose model call takes 1 ms, with the messages
  sent and the completion recorded (GenAI conventions: `parts`), and an input and output to
  search;
- OLD_FORM (flow `hello`, OK): a model call recorded in the older `{"role", "content"}` form,
  its answer invalid (not validated), and a costly run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_project
from tests.tracing.span_files import BASE_NS, MS, span, write_span_files

LONG = "10c0000000000000000000000000a001"
OLD_FORM = "01d0000000000000000000000000b002"
MINUTE_MS = 60_000

SENT = [
    {"role": "system", "parts": [{"type": "text", "content": "Summarise the ticket in one line."}]},
    {"role": "user", "parts": [{"type": "text", "content": "My parcel to Lisbon never arrived."}]},
]
COMPLETION = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Parcel to Lisbon lost in transit."}],
        "finish_reason": "stop",
    }
]


def long_trace() -> list[dict[str, object]]:
    """A 10 min run: a node of 9 min 59 s and, inside it, a 1 ms model call with messages."""
    base = BASE_NS + 2 * 3600 * 1000 * MS
    root = span(LONG, "a000000000000001", None, "run digest", 0, 10 * MINUTE_MS, "run",
                base_ns=base, status="OK")  # fmt: skip
    root["attributes"].update(
        {
            "stepladder.flow.name": "digest",
            "stepladder.input": json.dumps({"ticket": "My parcel to Lisbon never arrived."}),
            "stepladder.output": json.dumps({"summary": "Parcel to Lisbon lost in transit."}),
            "stepladder.cost_usd": 0.0042,
            "stepladder.usage.input_tokens": 1200,
            "stepladder.usage.output_tokens": 300,
        }
    )
    node = span(LONG, "a000000000000002", root["span_id"], "node summarise", 500,
                10 * MINUTE_MS - 500, "node", base_ns=base)  # fmt: skip
    call = span(
        LONG, "a000000000000003", node["span_id"], "chat smollm2-135m", 1000, 1001, "model",
        base_ns=base, kind="CLIENT",
        **{
            "gen_ai.request.model": "smollm2-135m",
            "gen_ai.input.messages": json.dumps(SENT),
            "gen_ai.output.messages": json.dumps(COMPLETION),
            "stepladder.input": json.dumps({"ticket": "My parcel to Lisbon never arrived."}),
        },
    )  # fmt: skip
    return [root, node, call]


def old_form_trace() -> list[dict[str, object]]:
    """A run of `hello` whose model call (older message form) gave an invalid answer."""
    base = BASE_NS + 1800 * 1000 * MS
    root = span(OLD_FORM, "b000000000000001", None, "run hello", 0, 2500, "run",
                base_ns=base, status="OK")  # fmt: skip
    root["attributes"].update(
        {
            "stepladder.flow.name": "hello",
            "stepladder.input": json.dumps({"name": "Ada"}),
            "stepladder.output": json.dumps({"greeting": "Hello, Ada"}),
            "stepladder.cost_usd": 1.25,
        }
    )
    call = span(
        OLD_FORM, "b000000000000002", root["span_id"], "chat gpt-4o-mini", 10, 2400, "model",
        base_ns=base, kind="CLIENT", status="ERROR",
        **{
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "Greet Ada"}]),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "content": "{greeting: Hello", "finish_reason": "length"}]
            ),
        },
    )  # fmt: skip
    call["status_message"] = "invalid output: greeting: field required"
    return [root, call]


def traced_project(root: Path) -> Path:
    """A project folder whose trace store holds the five runs above."""
    write_project(root, {})
    folder = write_span_files(root / ".stepladder" / "traces")
    lines = [json.dumps(item) for item in (*long_trace(), *old_form_trace())]
    (folder / "spans-0003.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
