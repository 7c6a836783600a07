"""Recording a run, and replaying it: only changed nodes, and nodes whose inputs changed, run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stepladder
from stepladder.errors import RecordError, ReplayMiss, UserError
from stepladder.replay import VERSION, Record, ReplaySession, load_record, replay_session
from tests.replay.chain_project import chain_project, change_step

TEXT = {"text": "  where is my order  "}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return chain_project(tmp_path / "project")


def record(root: Path) -> ReplaySession:
    project = stepladder.open_project(root)
    session = replay_session(project.config, record=True)
    project.run("chain", TEXT, replay=session)
    assert session.saved is not None
    return session


def replay(root: Path, run_id: str, **options: object) -> tuple[dict, ReplaySession]:
    project = stepladder.open_project(root)
    session = replay_session(project.config, record=False, replay=run_id, **options)  # type: ignore[arg-type]
    result = project.run("chain", TEXT, replay=session)
    return result.state, session


def ran(session: ReplaySession) -> dict[str, int]:
    return {node: stats.ran for node, stats in session.stats.items()}


def test_a_run_is_recorded_once_complete_with_each_node_call(root: Path) -> None:
    session = record(root)
    assert session.saved is not None and session.saved.parent == root / ".stepladder" / "records"
    saved = load_record(session.saved)
    assert [call.node for call in saved.calls] == ["split", "shout", "measure"]
    measure = saved.calls[-1]
    assert measure.inputs == {"shouted": "WHERE IS MY ORDER!"}
    assert measure.outputs == {"length": 18}
    assert set(measure.parts) == {"spec", "prompt", "model", "code"} and measure.parts["code"]
    assert len({call.key for call in saved.calls}) == 3
    assert not list(saved.calls[0].__dict__.get("exchanges", []))
    leftovers = [p for p in session.saved.parent.iterdir() if p != session.saved]
    assert leftovers == []  # written through a temporary file renamed into place


def test_nothing_changed_replays_every_call(root: Path) -> None:
    session = record(root)
    assert session.saved is not None
    state, replayed = replay(root, session.saved.stem, hermetic=True)
    assert state["length"] == 18 and state["words"] == ["where", "is", "my", "order"]
    assert ran(replayed) == {"split": 0, "shout": 0, "measure": 0}
    assert all(stats.replayed == 1 for stats in replayed.stats.values())


def test_a_changed_node_runs_and_so_do_the_nodes_whose_inputs_it_changed(root: Path) -> None:
    run_id = record(root).saved.stem  # type: ignore[union-attr]
    change_step(root, 'upper() + "!"', 'upper() + "?!"')
    state, session = replay(root, run_id)
    assert state["shouted"] == "WHERE IS MY ORDER?!" and state["length"] == 19
    assert ran(session) == {"split": 0, "shout": 1, "measure": 1}


def test_a_changed_node_whose_output_is_the_same_stops_the_reruns_there(root: Path) -> None:
    run_id = record(root).saved.stem  # type: ignore[union-attr]
    change_step(root, "return text.split()", "return text.strip().split()")
    state, session = replay(root, run_id)
    assert state["length"] == 18
    assert ran(session) == {"split": 1, "shout": 0, "measure": 0}


def test_a_hermetic_miss_names_the_node_and_the_changed_part(root: Path) -> None:
    run_id = record(root).saved.stem  # type: ignore[union-attr]
    change_step(root, 'upper() + "!"', 'upper() + "?!"')
    with pytest.raises(ReplayMiss) as caught:
        replay(root, run_id, hermetic=True)
    assert caught.value.node_id == "shout"
    assert "its function's code changed (key parts: code)" in str(caught.value)
    assert "key parts: code" in str(caught.value)


def test_a_hermetic_miss_on_new_inputs_shows_them(root: Path) -> None:
    run_id = record(root).saved.stem  # type: ignore[union-attr]
    project = stepladder.open_project(root)
    with pytest.raises(ReplayMiss, match="inputs differ") as caught:
        project.run("chain", {"text": "refund please"}, replay=run_id, hermetic=True)
    message = str(caught.value)
    assert "node 'split'" in message and '"refund please"' in message


def test_a_spec_change_is_named(root: Path) -> None:
    run_id = record(root).saved.stem  # type: ignore[union-attr]
    flow = root / "flows" / "chain.yaml"
    flow.write_text(
        flow.read_text().replace("reads: [words], writes: [shouted]}",
                                 "reads: [words], writes: [shouted], in_thread: true}"),
    )  # fmt: skip
    with pytest.raises(ReplayMiss, match="its spec changed"):
        replay(root, run_id, hermetic=True)


def test_an_unknown_record_version_is_refused(root: Path) -> None:
    path = record(root).saved
    assert path is not None
    data = json.loads(path.read_text())
    data["version"] = VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"version {VERSION + 1} is not one this stepladder"):
        load_record(path)
    with pytest.raises(RecordError, match="not a stepladder record"):
        path.write_text('{"calls": []}')
        load_record(path)


def test_a_missing_record_and_hermetic_without_replay_are_refused(root: Path) -> None:
    project = stepladder.open_project(root)
    with pytest.raises(RecordError, match="no record 'nope'"):
        project.run("chain", TEXT, replay="nope")
    with pytest.raises(UserError, match="--hermetic replays a record"):
        project.run("chain", TEXT, hermetic=True)


def test_outside_a_session_nothing_is_recorded(root: Path) -> None:
    stepladder.open_project(root).run("chain", TEXT)
    assert not (root / ".stepladder" / "records").exists()


def test_a_plain_invoke_records_and_replays_inside_a_session(root: Path) -> None:
    flow = stepladder.open_project(root).flow("chain")
    recording = ReplaySession(record=True)
    with recording.active():
        first = flow.invoke({"text": "a b"})
    assert [call.node for call in recording.calls] == ["split", "shout", "measure"]
    source = Record("invoked", "chain", "", tuple(recording.calls))
    replaying = ReplaySession(record=False, source=source, hermetic=True)
    with replaying.active():
        assert flow.invoke({"text": "a b"}) == first
    assert {node: stats.replayed for node, stats in replaying.stats.items()} == {
        "split": 1, "shout": 1, "measure": 1,
    }  # fmt: skip


OUTER = """
name: outer
state:
  text: {type: str, input: true}
  length: int
nodes:
  - {id: inner, kind: flow, flow: chain, inputs: {text: text}, outputs: {length: length}}
"""


def test_a_subflow_replays_its_own_nodes_and_reruns_the_changed_one(root: Path) -> None:
    (root / "flows" / "outer.yaml").write_text(OUTER, encoding="utf-8")
    project = stepladder.open_project(root)
    recording = replay_session(project.config, record=True)
    assert project.run("outer", TEXT, replay=recording).state["length"] == 18
    assert recording.saved is not None
    change_step(root, 'upper() + "!"', 'upper() + "?!"')
    project = stepladder.open_project(root)
    session = replay_session(project.config, record=False, replay=recording.saved.stem)
    assert project.run("outer", TEXT, replay=session).state["length"] == 19
    assert ran(session) == {"split": 0, "shout": 1, "measure": 1}
