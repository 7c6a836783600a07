import json
import logging
import os
from pathlib import Path

import pytest

from stepladder.errors import UserError
from stepladder.evalsets.baseline import (
    baseline_manifest,
    list_baselines,
    resolve_run,
    save_baseline,
)
from tests.evalsets.runs import binary_run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def evals(project: Path) -> Path:
    return project / ".stepladder" / "evals"


def test_save_copies_manifest_and_results(project: Path) -> None:
    run = binary_run(evals(project) / "20260101-aaaa", [1, 0, 1])
    folder = save_baseline(run, project)
    assert folder == project / "evalsets" / "baselines" / "support"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_id"] == "20260101-aaaa" and manifest["metrics"] == ["exact"]
    lines = (folder / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["case_id"] for line in lines] == ["c0", "c1", "c2"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "results.jsonl"]
    back = resolve_run("baseline", evals_dir=evals(project), project_root=project)
    assert back.manifest == run.manifest and back.results == run.results


def test_save_overwrites_an_older_baseline_and_says_so(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert baseline_manifest(project, "support") is None
    save_baseline(binary_run(evals(project) / "old", [1, 1, 1, 1]), project)
    previous = baseline_manifest(project, "support")
    assert previous is not None and previous.run_id == "old"
    newer = binary_run(evals(project) / "new", [0, 1])
    with caplog.at_level(logging.INFO, logger="stepladder.evalsets.baseline"):
        save_baseline(newer, project)
    assert "replaced the baseline of support (run old) with run new" in caplog.text
    back = resolve_run("baseline:support", evals_dir=evals(project), project_root=project)
    assert back.manifest.run_id == "new" and len(back.results) == 2


def test_resolve_run_id_prefix_and_folder(project: Path, tmp_path: Path) -> None:
    binary_run(evals(project) / "20260101-aaaa", [1])
    binary_run(evals(project) / "20260102-bbbb", [0])
    elsewhere = binary_run(tmp_path / "copied-run", [1, 1])
    kwargs = {"evals_dir": evals(project), "project_root": project}
    assert resolve_run("20260102-bbbb", **kwargs).manifest.run_id == "20260102-bbbb"
    assert resolve_run("20260101", **kwargs).manifest.run_id == "20260101-aaaa"
    assert resolve_run(str(elsewhere.folder), **kwargs).manifest.run_id == "copied-run"
    with pytest.raises(UserError, match="start of several run ids: 20260101-aaaa, 20260102"):
        resolve_run("2026", **kwargs)


def test_unknown_ref_lists_recent_runs_and_baselines(project: Path) -> None:
    older = binary_run(evals(project) / "run-old", [1])
    os.utime(older.folder / "manifest.json", (1_000_000, 1_000_000))
    binary_run(evals(project) / "run-new", [1])
    save_baseline(older, project)
    with pytest.raises(UserError) as error:
        resolve_run("nope", evals_dir=evals(project), project_root=project)
    message = str(error.value)
    assert "'nope' names no eval run" in message
    assert "run-new, run-old, baseline, baseline:support" in message


def test_not_a_run_folder(project: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not an eval run"):
        resolve_run(str(tmp_path / "empty"), evals_dir=evals(project), project_root=project)
    with pytest.raises(UserError, match="none: no runs in"):
        resolve_run("x", evals_dir=evals(project), project_root=project)


def test_baseline_errors_list_the_choices(project: Path) -> None:
    kwargs = {"evals_dir": evals(project), "project_root": project}
    with pytest.raises(UserError, match="no baseline saved"):
        resolve_run("baseline", **kwargs)
    save_baseline(binary_run(evals(project) / "r1", [1], eval_name="support"), project)
    save_baseline(binary_run(evals(project) / "r2", [1], eval_name="billing"), project)
    assert list_baselines(project) == ["billing", "support"]
    with pytest.raises(UserError, match="say which: baseline:billing, baseline:support"):
        resolve_run("baseline", **kwargs)
    with pytest.raises(UserError, match=r"no baseline for eval 'refunds'.*baseline:billing"):
        resolve_run("baseline:refunds", **kwargs)
    assert resolve_run("baseline:billing", **kwargs).manifest.run_id == "r2"


def test_an_unsafe_eval_name_is_refused(project: Path) -> None:
    run = binary_run(evals(project) / "r", [1], eval_name="../escape")
    with pytest.raises(UserError, match="cannot name a baseline folder"):
        save_baseline(run, project)
    assert not (project / "evalsets").exists()
