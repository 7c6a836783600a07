"""Synthetic span files that follow the exporter's JSONL contract, for the trace reader tests.

Three traces over two rotated files plus a few bad lines:

- FAILED (flow `support`, status ERROR): run -> classify -> chat small (escalated)
                                          run -> answer (ERROR) -> retrieve faq, chat frontier
- HELLO (flow `hello`, OK, an hour older): run -> split
- UNFINISHED (flow `support`, newest): no root; classify -> chat small, orphaned
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE_NS = 1_764_300_000_000_000_000  # 2025-11-28 03:20:00 UTC
MS = 1_000_000

FAILED = "ab12cd34ef56ab12cd34ef56ab12cd34"
HELLO = "ab9900aa11bb22cc33dd44ee55ff6677"
UNFINISHED = "f00dbabe00000000000000000000beef"

NASTY = "</script><img src=x onerror=alert(1)> & <!-- not a comment"


def span(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    start_ms: float,
    end_ms: float,
    span_type: str,
    *,
    base_ns: int = BASE_NS,
    status: str = "UNSET",
    kind: str = "INTERNAL",
    **attributes: Any,
) -> dict[str, Any]:
    """One span line, as the exporter writes it."""
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent_id,
        "name": name,
        "kind": kind,
        "start_ns": base_ns + int(start_ms * MS),
        "end_ns": base_ns + int(end_ms * MS),
        "status": status,
        "status_message": None,
        "attributes": {"stepladder.span.type": span_type, **attributes},
        "events": [],
        "resource": {"service.name": "stepladder"},
    }


def failed_trace() -> list[dict[str, Any]]:
    """A run of `support` whose `answer` node raised: 6 spans, 3 levels."""
    t = FAILED
    root = span(t, "1000000000000001", None, "run support", 0, 500, "run", status="ERROR")
    root["status_message"] = "node 'answer': ValueError: no answer in the context"
    root["attributes"].update(
        {
            "stepladder.flow.name": "support",
            "stepladder.cost_usd": 0.000321,
            "stepladder.escalations": 1,
            "stepladder.thread_id": "thread-1",
            "stepladder.usage.input_tokens": 120,
            "stepladder.usage.output_tokens": 45,
            "stepladder.input": '{"question": "where is my order?"}',
        }
    )
    classify = span(
        t,
        "2000000000000001",
        root["span_id"],
        "node classify",
        10,
        200,
        "node",
        **{"stepladder.node.id": "classify", "stepladder.node.kind": "classify"},
    )
    small = span(
        t,
        "3000000000000001",
        classify["span_id"],
        "chat smollm2-135m",
        20,
        180,
        "model",
        kind="CLIENT",
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "smollm2-135m",
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 8,
            "stepladder.tier": "small",
            "stepladder.cost_usd": 0.000021,
            "stepladder.attempt": 1,
            "stepladder.escalation.reason": "low confidence (0.41 < 0.6)",
            "stepladder.node.id": "classify",
            "stepladder.output": NASTY,
        },
    )
    answer = span(
        t,
        "2000000000000002",
        root["span_id"],
        "node answer",
        210,
        480,
        "node",
        status="ERROR",
        **{"stepladder.node.id": "answer", "stepladder.node.kind": "generate"},
    )
    answer["status_message"] = "ValueError: no answer in the context"
    answer["events"] = [
        {
            "name": "exception",
            "time_ns": BASE_NS + 479 * MS,
            "attributes": {
                "exception.type": "ValueError",
                "exception.message": "no answer in the context",
                "exception.stacktrace": 'Traceback (most recent call last):\n  File "x.py"',
            },
        }
    ]
    retrieve = span(
        t,
        "4000000000000001",
        answer["span_id"],
        "retrieve faq",
        220,
        260,
        "retrieval",
        **{"stepladder.collection": "faq", "stepladder.k": 3, "stepladder.results": 3},
    )
    frontier = span(
        t,
        "3000000000000002",
        answer["span_id"],
        "chat gpt-4o-mini",
        270,
        470,
        "model",
        kind="CLIENT",
        **{
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 70,
            "gen_ai.usage.output_tokens": 25,
            "stepladder.tier": "frontier",
            "stepladder.cost_usd": 0.0003,
        },
    )
    return [root, classify, small, answer, retrieve, frontier]


def hello_trace() -> list[dict[str, Any]]:
    """A finished two-span run of `hello`, an hour before the failed one."""
    base = BASE_NS - 3600 * 1000 * MS
    root = span(
        HELLO,
        "5000000000000001",
        None,
        "run hello",
        0,
        40,
        "run",
        base_ns=base,
        status="OK",
        **{"stepladder.flow.name": "hello"},
    )
    split = span(
        HELLO,
        "5000000000000002",
        root["span_id"],
        "node split",
        5,
        30,
        "node",
        base_ns=base,
        **{"stepladder.flow.name": "hello"},
    )
    return [root, split]


def unfinished_trace() -> list[dict[str, Any]]:
    """A run still going a minute after the failed one: a node and a model call, no root."""
    base = BASE_NS + 60 * 1000 * MS
    missing_root = "6000000000000000"
    node = span(
        UNFINISHED,
        "6000000000000001",
        missing_root,
        "node classify",
        1,
        90,
        "node",
        base_ns=base,
        **{"stepladder.flow.name": "support"},
    )
    call = span(
        UNFINISHED,
        "6000000000000002",
        node["span_id"],
        "chat smollm2-135m",
        2,
        80,
        "model",
        base_ns=base,
        kind="CLIENT",
        **{
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.usage.output_tokens": 7,
            "stepladder.cost_usd": 0.00001,
            "stepladder.escalation.reason": "invalid output",
        },
    )
    return [node, call]


def write_span_files(folder: Path) -> Path:
    """Write the three traces, rotated over two files, with two malformed lines."""
    folder.mkdir(parents=True, exist_ok=True)
    failed = failed_trace()
    first = [*hello_trace(), failed[3], failed[0]]  # children before parents, as exported
    second = [*failed[4:], failed[1], failed[2], *unfinished_trace()]
    lines = [json.dumps(item) for item in first]
    lines[1:1] = ["{not json", ""]
    (folder / "spans-0001.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines = [json.dumps(item) for item in second]
    lines.append(json.dumps({"span_id": "77", "name": "no trace id"}))
    (folder / "spans-0002.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not a span file\n", encoding="utf-8")
    return folder
