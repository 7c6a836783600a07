"""Capture: traced production runs become eval cases, filtered, deduplicated and labelled."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder import compile_flow, flow_from_dict
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.errors import ConfigError, UserError
from stepladder.evalsets import EvalCase, load_cases
from stepladder.flows import Flow, compile_project_flow
from stepladder.flows.project import project_tracing
from stepladder.monitor.capture import (
    CaptureFilters,
    Labeller,
    capture_cases,
    default_fields,
    label_cases,
    select_runs,
)
from stepladder.monitor.capture_files import CaseFile
from stepladder.monitor.production import load_production_runs
from stepladder.retrieval.ingest import ingest
from stepladder.runtimes import ModelPool
from stepladder.tracing.attributes import EVAL_RUN_ID
from tests.escalation.helpers import dummy
from tests.monitor.capture_project import LABELS, capture_project, texts, traced_runs
from tests.retrieval.embedded import store_in

runner = CliRunner()
TRACES = ".stepladder/traces"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return capture_project(tmp_path / "proj")


def shout_flow(root: Path) -> Flow:
    return compile_project_flow(load_project(root=root), "shout")


def captured(root: Path, **filters: Any) -> list[Any]:
    flow = shout_flow(root)
    selection = select_runs(root / TRACES, flow, CaptureFilters(**filters))
    return capture_cases(selection, default_fields(flow))


async def test_runs_become_unreviewed_cases_with_their_outputs(project: Path) -> None:
    ids = await traced_runs(project, "shout", texts("hello", "hi"))
    cases = captured(project)
    assert [case.id for case in cases] == [f"trace-{trace_id[:16]}" for trace_id in ids]
    first = cases[0]
    assert first.inputs == {"text": "hello"}  # the non-input default `note` is not an input
    assert first.expected == {"loud": "HELLO", "size": "long"}
    assert first.tags == ["captured", "unreviewed"]
    assert first.split is None
    assert first.meta["trace_id"] == ids[0] and first.meta["source"] == "traces"
    assert cases[1].expected == {"loud": "HI", "size": "short"}


async def test_status_filter_keeps_ok_runs_unless_asked(project: Path) -> None:
    await traced_runs(project, "shout", texts("hello", "boom"))
    assert [case.inputs["text"] for case in captured(project)] == ["hello"]
    [failed] = captured(project, status="error")
    assert failed.inputs == {"text": "boom"}
    assert failed.expected == {} and "error" in failed.tags
    assert len(captured(project, status="any")) == 2


async def test_since_and_until_split_runs_by_start_time(project: Path) -> None:
    await traced_runs(project, "shout", texts("early", "first"))
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await traced_runs(project, "shout", texts("late"))
    assert [c.inputs["text"] for c in captured(project, since=middle)] == ["late"]
    assert [c.inputs["text"] for c in captured(project, until=middle)] == ["early", "first"]


async def test_limit_takes_the_newest_and_a_seeded_sample_repeats(project: Path) -> None:
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    await traced_runs(project, "shout", texts(*words))
    newest = captured(project, limit=2)
    assert [c.inputs["text"] for c in newest] == ["seven", "eight"]  # written oldest first
    first = [c.id for c in captured(project, sample=3, seed=7)]
    again = [c.id for c in captured(project, sample=3, seed=7)]
    assert len(first) == 3 and first == again
    seeds = {tuple(c.id for c in captured(project, sample=3, seed=s)) for s in range(6)}
    assert len(seeds) > 1


async def test_trace_prefixes_pick_runs_of_any_status(project: Path) -> None:
    ids = await traced_runs(project, "shout", texts("hello", "boom", "hi"))
    flow = shout_flow(project)
    filters = CaptureFilters(traces=(ids[1][:10], "ffffffffffff"))
    selection = select_runs(project / TRACES, flow, filters)
    assert [run.trace_id for run in selection.runs] == [ids[1]]
    assert selection.missing_traces == ("ffffffffffff",)


async def test_redacted_and_eval_runs_are_left_out_and_counted(project: Path) -> None:
    await traced_runs(project, "shout", texts("secret", "hidden"), redact=True)
    await traced_runs(project, "shout", texts("graded"), attributes={EVAL_RUN_ID: "r1"})
    await traced_runs(project, "shout", texts("hello"))
    flow = shout_flow(project)
    selection = select_runs(project / TRACES, flow, CaptureFilters())
    assert [run.inputs["text"] for run in selection.runs if run.inputs] == ["hello"]
    assert (selection.unreadable, selection.eval_runs) == (2, 1)
    included = captured(project, include_eval=True)
    assert [c.inputs["text"] for c in included] == ["graded", "hello"]


async def test_escalated_and_invalid_runs_can_be_asked_for(project: Path) -> None:
    messages = [{"message": "where is my parcel"}, {"message": "refund me"}]
    small = dummy({"category": "DELIVERY"}, {"category": "NOPE"}, {"category": "NOPE"})
    models = ModelPool({}, lms={"small": small, "big": dummy({"category": "REFUND"})})
    ids = await traced_runs(project, "triage", messages, models=models)
    flow = compile_project_flow(load_project(root=project), "triage")
    for filters in (CaptureFilters(escalated=True), CaptureFilters(invalid=True)):
        selection = select_runs(project / TRACES, flow, filters)
        [case] = capture_cases(selection, default_fields(flow))
        assert case.meta["trace_id"] == ids[1]
        assert case.expected == {"category": "REFUND"}
        assert case.tags == ["captured", "unreviewed", "escalated", "invalid-output"]


async def test_nothing_matched_names_the_filters_and_the_runs_there(project: Path) -> None:
    await traced_runs(project, "shout", texts("hello", "hi"))
    await traced_runs(project, "shout", texts("graded"), attributes={EVAL_RUN_ID: "r1"})
    with pytest.raises(UserError) as caught:
        captured(project, status="error", escalated=True)
    message = str(caught.value)
    assert "no traced run of flow 'shout' matches --status error --escalated" in message
    assert "holds 3 run(s) of 'shout'" in message
    assert "1 from eval runs (--include-eval)" in message


async def test_runs_whose_input_no_longer_fits_the_flow_are_left_out(project: Path) -> None:
    await traced_runs(project, "shout", texts("hello", "hi"))
    flow_file = project / "flows/shout.yaml"
    flow_file.write_text(
        flow_file.read_text().replace("  note:", "  lang: {type: str, input: true}\n  note:")
    )
    with pytest.raises(UserError, match="2 whose input no longer fits the flow"):
        captured(project)


def test_expected_fields_default_to_what_nodes_write(project: Path) -> None:
    flow = shout_flow(project)
    assert default_fields(flow) == ("loud", "size")
    assert default_fields(flow, ["size", "size"]) == ("size",)
    with pytest.raises(UserError, match=r"--fields nope: .* outputs are: note, loud, size"):
        default_fields(flow, ["nope"])


async def test_the_case_file_keeps_its_lines_and_knows_its_ids(project: Path) -> None:
    await traced_runs(project, "shout", texts("hello", "hi"))
    path = project / "evalsets/captured.jsonl"
    path.write_text('{"id": "mine", "inputs": {"text": "x"}}\n# a note kept as it is\n')
    first, second = captured(project)
    file = CaseFile(path)
    assert "mine" in file and first.id not in file
    file.add(first)
    file.save()
    again = CaseFile(path)
    assert first.id in again and second.id not in again
    lines = path.read_text().splitlines()
    assert lines[:2] == ['{"id": "mine", "inputs": {"text": "x"}}', "# a note kept as it is"]
    assert json.loads(lines[2])["id"] == first.id
    assert "split" not in json.loads(lines[2])  # None is left out
    replaced = CaseFile(path, overwrite=True)
    replaced.add(second)
    replaced.save()
    assert [c.id for c in load_cases(path)] == [second.id]
    assert not list(path.parent.glob(".*.tmp"))


async def test_labelling_expects_the_label_tier_and_keeps_production_visible(
    project: Path,
) -> None:
    messages = [{"message": m} for m in ("where is my parcel", "refund me", "hello")]
    production = ModelPool({}, lms={"small": dummy(*[{"category": "ORDER"}] * 3)})
    await traced_runs(project, "triage", messages, models=production)
    loaded = load_project(root=project)
    flow = compile_project_flow(loaded, "triage")
    selection = select_runs(project / TRACES, flow, CaptureFilters())
    cases = capture_cases(selection, default_fields(flow))
    assert [c.expected for c in cases] == [{"category": "ORDER"}] * 3
    answers = [{"category": "DELIVERY"}, {"category": "REFUND"}, {"category": "ORDER"}]
    bad = [{"category": "NOPE"}, {"category": "NOPE"}]
    pinned = compile_project_flow(loaded, "triage", "big")
    big = ModelPool({}, lms={"big": dummy(*answers[:2], *bad)})
    seen: list[int] = []
    tracing = project_tracing(loaded)
    labelled = await label_cases(
        cases, Labeller(pinned, "big", big, tracing), ["category"], concurrency=1,
        on_case=lambda index, case: seen.append(index),
    )  # fmt: skip
    tracing.shutdown()
    assert sorted(seen) == [0, 1, 2]
    assert [c.expected for c in labelled] == [*answers[:2], {"category": "ORDER"}]
    assert [c.tags[2:] for c in labelled] == [
        ["labelled:big", "disagrees"],
        ["labelled:big", "disagrees"],
        ["label-failed"],
    ]
    assert labelled[0].meta["production"] == {"category": "ORDER"}
    assert labelled[2].meta["label_error"]
    after = load_production_runs(project / TRACES, "triage")
    assert len(after.runs) == 3 and len(after.eval_runs) == 3  # label runs are not production


async def test_a_stopped_labelling_starts_no_further_case(project: Path) -> None:
    messages = [{"message": m} for m in ("one", "two", "three")]
    production = ModelPool({}, lms={"small": dummy(*[{"category": "ORDER"}] * 3)})
    await traced_runs(project, "triage", messages, models=production)
    loaded = load_project(root=project)
    flow = compile_project_flow(loaded, "triage")
    cases = capture_cases(select_runs(project / TRACES, flow, CaptureFilters()), ["category"])
    big = ModelPool({}, lms={"big": dummy(*[{"category": "REFUND"}] * 3)})
    labeller = Labeller(compile_project_flow(loaded, "triage", "big"), "big", big)
    stop = asyncio.Event()
    done = await label_cases(
        cases, labeller, ["category"], concurrency=1, stop=stop,
        on_case=lambda index, case: stop.set(),
    )  # fmt: skip
    assert [case.id for case in done] == [cases[0].id]
    assert done[0].expected == {"category": "REFUND"}


async def test_label_runs_search_the_labellers_store(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    docs = tmp_path / "help.jsonl"
    docs.write_text(json.dumps({"id": "r1", "text": "Refunds reach your card in a week."}) + "\n")
    ingest(store, "help", [docs], id_field="id")
    state = {"message": {"type": "str", "input": True}, "passages": "list[dict]",
             "category": {"type": "enum", "values": LABELS}}  # fmt: skip
    search = {"id": "search", "kind": "retrieve", "collection": "help", "query": "message",
              "output": "passages"}  # fmt: skip
    classify = {"id": "classify", "kind": "classify", "tier": "big", "reads": ["message"],
                "labels": LABELS, "output": "category"}  # fmt: skip
    spec = flow_from_dict({"name": "lookup", "state": state, "nodes": [search, classify]})
    flow = compile_flow(spec, tiers={"big"})
    case = EvalCase(id="c1", inputs={"message": "refund me"}, expected={"category": "ORDER"})
    big = ModelPool({}, lms={"big": dummy({"category": "REFUND"})})
    with pytest.raises(ConfigError, match="given no store"):  # before any case runs
        await label_cases([case], Labeller(flow, "big", big), ["category"])
    [done] = await label_cases([case], Labeller(flow, "big", big, store=store), ["category"])
    assert done.expected == {"category": "REFUND"}
    assert done.tags == ["labelled:big", "disagrees"]


def test_capture_round_trip_into_an_eval_run(project: Path) -> None:
    asyncio.run(traced_runs(project, "shout", texts("hello", "hi", "boom", "calm")))
    target = project / "evalsets/shout_captured.jsonl"
    first = cli(project, "capture", "shout", "--from-traces", "--to", str(target))
    assert first.exit_code == 0, first.output
    assert "3 run(s) matched" in first.stdout and "3 new, 0 already in the file" in first.stdout
    assert "loud: exact" in first.stdout and "size: label" in first.stdout
    spec = project / "evalsets/shout_captured.yaml"
    spec.write_text(_snippet(first.stdout))
    result = cli(project, "eval", str(spec), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["cases"] == 3 and summary["ok"] == 3
    assert {m["name"]: m["mean"] for m in summary["metrics"]} == {"loud": 1.0, "size": 1.0}
    again = cli(project, "capture", "shout", "--from-traces", "--to", str(target))
    assert "0 new, 3 already in the file" in again.stdout
    assert "stepladder eval" in again.stdout and "shout_captured.yaml" in again.stdout
    assert len(load_cases(target)) == 3


def cli(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project), *args])


def _snippet(output: str) -> str:
    """The eval spec the capture summary suggests (its indented YAML lines)."""
    after = output.split("save this as", 1)[1].split("\n\n", 1)[1]
    return textwrap.dedent(after.split("\nthen:", 1)[0]) + "\n"


@pytest.mark.slow
def test_label_tier_runs_the_real_embedded_model(project: Path) -> None:
    messages = [
        {"message": "I want my money back for order 5512"},
        {"message": "My parcel has not arrived yet"},
        {"message": "I cannot log in to my account"},
    ]
    production = ModelPool({}, lms={"small": dummy(*[{"category": "ACCOUNT"}] * 3)})
    asyncio.run(traced_runs(project, "triage", messages, models=production))
    target = project / "evalsets/triage.jsonl"
    result = cli(
        project, "capture", "triage", "--from-traces", "--to", str(target),
        "--label-tier", "big", "--concurrency", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "labelled on 'big'" in result.stdout
    cases = load_cases(target)
    assert len(cases) == 3
    for case in cases:
        assert "labelled:big" in case.tags and "label-failed" not in case.tags
        assert case.expected["category"] in LABELS
        assert case.meta["production"] == {"category": "ACCOUNT"}
        assert ("disagrees" in case.tags) == (case.expected["category"] != "ACCOUNT")
