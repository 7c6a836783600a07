"""Production runs read back from real span files: inputs, outputs, invalid outputs, filters."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stepladder.config.tracing import TracingSettings
from stepladder.errors import UserError
from stepladder.flows import run_flow
from stepladder.monitor.production import load_production_runs, parse_since
from stepladder.tracing import Tracing
from stepladder.tracing.attributes import EVAL_RUN_ID
from tests.tracing.test_spans import priced_pool, support_flow

GOOD = ({"category": "REFUND"}, {"reply": "Refund on its way."})
INVALID_FIRST = ({"category": "BANANA"}, *GOOD)


async def traced_run(
    folder: Path, answers: tuple[dict[str, Any], ...], redact: bool = False, **extra: Any
) -> str:
    settings = TracingSettings(redact=redact)
    tracing = Tracing.for_project(settings, folder, "test")
    try:
        result = await run_flow(
            support_flow(),
            {"message": "Refund order 55"},
            models=priced_pool(*answers),
            tracing=tracing,
            trace_attributes=extra or None,
        )
    finally:
        tracing.shutdown()
    assert result.trace_id is not None
    return result.trace_id


async def test_runs_come_back_with_inputs_outputs_and_invalid_outputs(tmp_path: Path) -> None:
    good = await traced_run(tmp_path, GOOD)
    invalid = await traced_run(tmp_path, INVALID_FIRST)
    await traced_run(tmp_path, GOOD, **{EVAL_RUN_ID: "eval-1"})
    await traced_run(tmp_path, GOOD, redact=True)

    found = load_production_runs(tmp_path / "traces", "support")

    assert [run.trace_id for run in found.runs] == [invalid, good]
    assert (len(found.eval_runs), found.unreadable, found.total) == (1, 1, 4)
    first = found.runs[1]
    assert first.inputs == {"message": "Refund order 55"}
    assert first.outputs is not None and first.outputs["category"] == "REFUND"
    assert first.status == "ok" and first.eval_run_id is None
    assert (first.invalid_outputs, found.runs[0].invalid_outputs) == (0, 1)

    with_eval = load_production_runs(tmp_path / "traces", "support", include_eval=True)
    assert [run.eval_run_id for run in with_eval.runs].count("eval-1") == 1


async def test_eval_runs_count_even_when_their_input_cannot_be_read(tmp_path: Path) -> None:
    await traced_run(tmp_path, GOOD, redact=True, **{EVAL_RUN_ID: "eval-1"})
    found = load_production_runs(tmp_path / "traces", "support", include_eval=True)
    assert found.runs == () and found.unreadable == 1
    assert [run.eval_run_id for run in found.eval_runs] == ["eval-1"]
    assert found.eval_runs[0].outputs is None and found.eval_runs[0].invalid_outputs == 0
    assert load_production_runs(tmp_path / "traces", "other").runs == ()


async def test_time_window_filters_runs(tmp_path: Path) -> None:
    await traced_run(tmp_path, GOOD)
    now = datetime.now(UTC)
    folder = tmp_path / "traces"
    assert len(load_production_runs(folder, "support", since=now - timedelta(hours=1)).runs) == 1
    assert load_production_runs(folder, "support", since=now + timedelta(seconds=1)).runs == ()
    assert load_production_runs(folder, "support", until=now - timedelta(hours=1)).runs == ()


def test_missing_trace_folder_says_to_run_a_flow(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no traces yet"):
        load_production_runs(tmp_path / "traces", "support")


def test_since_takes_ages_and_iso_times() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-20", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(UserError, match="--since 'last tuesday': give an age"):
        parse_since("last tuesday", now)
    with pytest.raises(UserError, match="--until 'soon': give an age"):
        parse_since("soon", now, option="--until")
