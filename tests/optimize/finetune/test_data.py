"""Training examples from eval cases, captured cases and answered reviews.

The key property: an example's messages are exactly what the node sends at run time (a
recording LM behind the flow sees them), with and without compiled prompts, and the
adapter reads its completion back as the gold values.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows import Flow, compile_project_flow, run_flow
from stepladder.optimize.finetune.data import DataOptions, TrainingData, build_training_data
from stepladder.optimize.finetune.examples import TrainingExample, input_hash
from stepladder.optimize.finetune.render import NodeRenderer
from stepladder.prompts import (
    CompiledFile,
    CompiledNode,
    compiled_path,
    compiled_state,
    constrained_adapter,
    fingerprint,
    save_compiled,
)
from stepladder.runtimes import ModelPool
from tests.conftest import write_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SETTINGS = """name: desk
tiers:
  small: {runtime: openai-compatible, base_url: "http://127.0.0.1:9/v1", model: m}
ladder: [small, human]
"""
FLOW = """
name: desk
state:
  message: {type: str, input: true}
  channel: {type: str, input: true, default: email}
  category: {type: enum, values: [ORDER, REFUND]}
  order_id: optional[str]
  reply: str
nodes:
  - id: classify
    kind: classify
    reads: [message]
    instructions: Classify the message.
    labels: {ORDER: about an order, REFUND: money back}
    output: category
    retries: 0
  - id: extract
    kind: extract
    reads: [message, channel]
    fields:
      order_id: {type: str, max_chars: 12, description: the order number; null if none}
    retries: 0
  - id: reply
    kind: generate
    reads: [message, category]
    instructions: Write a short reply.
    output: reply
    max_chars: 40
    retries: 0
    escalate: {}
    demos:
      - {message: where is my parcel, category: ORDER, reply: It is on its way.}
"""
EVAL = """name: desk
flow: desk
cases: desk.jsonl
splits: [train, dev, test]
metrics: {category: label, order_id: exact, reply: exact}
"""


def case(index: int, split: str, **expected: Any) -> dict[str, Any]:
    refund = index % 2 == 1
    number = f"55{index:03d}"
    gold = {
        "category": "REFUND" if refund else "ORDER",
        "order_id": number if index % 3 else None,
        "reply": f"Reply {index}",
    }
    text = f"{'refund' if refund else 'where is'} order {number}" if index % 3 else f"help {index}"
    return {"id": f"c{index}", "inputs": {"message": text}, "expected": {**gold, **expected},
            "split": split}  # fmt: skip


def cases(train: int = 24, dev: int = 6, test: int = 6) -> list[dict[str, Any]]:
    splits = ["train"] * train + ["dev"] * dev + ["test"] * test
    return [case(index, split) for index, split in enumerate(splits)]


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def make_project(root: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    files = {"flows/desk.yaml": FLOW, "evalsets/desk.yaml": EVAL,
             "evalsets/desk.jsonl": jsonl(rows if rows is not None else cases())}  # fmt: skip
    return write_project(root, files, SETTINGS)


def flow_of(root: Path, compiled: bool = True) -> Flow:
    return compile_project_flow(load_project(root=root), "desk", compiled=compiled)


def build(root: Path, nodes: tuple[str, ...] = (), **options: Any) -> TrainingData:
    captures = options.pop("captures", ())
    reviews = options.pop("reviews", None)
    return build_training_data(
        flow_of(root), load_eval_spec(root / "evalsets/desk.yaml"), nodes,
        captures=captures, reviews=reviews, options=DataOptions(**options),
    )  # fmt: skip


def by_source(examples: tuple[TrainingExample, ...]) -> dict[tuple[str, str], TrainingExample]:
    return {(example.node, example.source): example for example in examples}


def write_compiled(root: Path) -> None:
    """Compiled prompts for the three nodes: new instructions and labelled demos."""
    project = load_project(root=root)
    flow = flow_of(root, compiled=False)
    demos = {
        "classify": [{"message": "money back for 9", "category": "REFUND"}],
        "extract": [{"message": "order 77", "channel": "chat", "order_id": "77"}],
        "reply": [{"message": "refund 5", "category": "REFUND", "reply": "Refund sent."},
                  {"message": "order 6", "category": "ORDER", "reply": "It ships today."}],
    }  # fmt: skip
    nodes = {}
    for node_id, shown in demos.items():
        program = flow.programs[node_id].deepcopy()
        program.demos = [dspy.Example(**demo) for demo in shown]
        program.signature = program.signature.with_instructions(f"Tuned for {node_id}.")
        nodes[node_id] = CompiledNode(
            fingerprint=fingerprint(flow.programs[node_id]), state=compiled_state(program)
        )
    compiled = CompiledFile(flow="desk", optimizer="bootstrap", nodes=nodes)
    save_compiled(compiled_path(project.prompts_dir, "desk"), compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["spec-prompts", "compiled-prompts"])
def test_training_messages_are_what_each_node_sends_at_run_time(
    tmp_path: Path, compiled: bool
) -> None:
    root = make_project(tmp_path / "desk")
    if compiled:
        write_compiled(root)
    flow = flow_of(root)
    assert (flow.compiled_prompts is not None) == compiled
    data = build(root)
    examples = by_source(data.train + data.validation)
    lm = DummyLM({}, adapter=constrained_adapter())
    models = ModelPool({}, lms={"small": lm})
    for row in cases()[:8]:
        gold = row["expected"]
        lm.answers = {f"fields `{key}`": {key: gold[key]} for key in gold}
        before = len(lm.history)
        result = asyncio.run(run_flow(flow, row["inputs"], models=models))
        assert result.state["reply"] == gold["reply"]
        sent = [entry["messages"] for entry in lm.history[before:]]
        assert len(sent) == 3  # classify, extract, reply
        for node, messages in zip(("classify", "extract", "reply"), sent, strict=True):
            example = examples[(node, f"evalset:desk#{row['id']}")]
            assert [dict(m) for m in example.messages] == messages
            renderer = NodeRenderer.for_node(flow, node)
            wanted = {key: gold[key] for key in renderer.output_fields}
            assert renderer.parse(example.completion) == wanted
            assert example.input_hash == input_hash({"message": row["inputs"]["message"],
                                                     "channel": "email"})  # fmt: skip
    prompt = examples[("reply", "evalset:desk#c0")].messages
    shown = "Tuned for reply." if compiled else "Write a short reply."
    assert shown in prompt[0]["content"]
    demo_turns = 4 if compiled else 2  # compiled demos replace the spec's one demo
    assert len(prompt) == 1 + demo_turns + 1
    assert json.loads(examples[("extract", "evalset:desk#c0")].completion) == {"order_id": None}


def test_the_eval_split_trains_and_validates_and_the_test_split_is_never_used(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "desk")
    data = build(root, ("classify", "extract"))
    ids = {row["id"]: row["split"] for row in cases()}
    assert {ids[e.source.split("#")[1]] for e in data.train} == {"train"}
    assert {ids[e.source.split("#")[1]] for e in data.validation} == {"dev"}
    assert [e.node for e in data.train] == ["classify"] * 24 + ["extract"] * 24
    summary = data.summary()
    assert summary["nodes"]["classify"]["train"] == {"evalset": 24}
    assert summary["nodes"]["extract"]["validation"] == {"evalset": 6}
    assert (summary["train"], summary["validation"], summary["test_cases"]) == (48, 12, 6)
    assert "split 'train'" in summary["splits"] and len(summary["data_hash"]) == 64


def test_identical_examples_are_dropped_and_the_hash_follows_the_examples(
    tmp_path: Path,
) -> None:
    rows = cases()
    twin = {**rows[0], "id": "c0-again"}
    root = make_project(tmp_path / "desk", [*rows, twin])
    data = build(root, ("classify",))
    assert data.nodes["classify"].duplicates == 1
    assert len(data.train) == 24
    assert build(root, ("classify",)).data_hash == data.data_hash
    rows[2]["expected"]["category"] = {"ORDER": "REFUND", "REFUND": "ORDER"}[
        rows[2]["expected"]["category"]
    ]
    changed = make_project(tmp_path / "changed", rows)
    assert build(changed, ("classify",)).data_hash != data.data_hash


def test_labels_that_do_not_fit_the_node_are_named_by_row(tmp_path: Path) -> None:
    rows = cases()
    rows[3]["expected"]["category"] = "BILLING"
    rows[5]["expected"]["order_id"] = 55005
    rows[7]["expected"]["reply"] = "x" * 41
    root = make_project(tmp_path / "desk", rows)
    with pytest.raises(UserError) as raised:
        build(root)
    message = str(raised.value)
    cases_file = root / "evalsets/desk.jsonl"
    assert message.startswith("4 row(s) cannot train:")
    assert f"{cases_file} line 4 (case c3): node 'classify': category: Input should be" in message
    assert "'BILLING'" in message
    assert f"{cases_file} line 4 (case c3): expected 'category': 'BILLING' does not fit" in message
    assert "line 6 (case c5): node 'extract': order_id: Input should be a valid string" in message
    assert "line 8 (case c7): node 'reply': reply: String should have at most 40 characters" in (
        message
    )


def test_too_little_data_says_how_many_are_needed_and_found(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk")
    with pytest.raises(UserError) as raised:
        build(root, ("classify",), min_examples=30)
    assert "at least 30 training examples are needed per node" in str(raised.value)
    assert "node 'classify' has 24 training example(s) (from: evalset 24)" in str(raised.value)


def test_a_node_whose_upstream_key_has_no_gold_value_names_the_key(tmp_path: Path) -> None:
    rows = [{**row, "expected": {"reply": row["expected"]["reply"]}} for row in cases()]
    root = make_project(tmp_path / "desk", rows)
    with pytest.raises(UserError) as raised:
        build(root, ("reply",))
    message = str(raised.value)
    assert "node 'reply' has 0 training example(s) (from: none)" in message
    assert "30 evalset: no gold value for 'category', which node 'classify' writes" in message


def test_a_dspy_teacher_refuses_the_agent_node_and_unknown_nodes() -> None:
    project = load_project(root=EXAMPLES)
    flow = compile_project_flow(project, "order_support", "small")
    with pytest.raises(UserError, match=r"node 'agent' is an agent: .*worked task"):
        NodeRenderer.for_node(flow, "agent")
    with pytest.raises(UserError, match=r"no node 'agnet' in flow 'order_support'"):
        NodeRenderer.for_node(flow, "agnet")


def captured(row: dict[str, Any], *tags: str, split: str | None = None) -> dict[str, Any]:
    found = {**row, "id": f"trace-{row['id']}", "tags": ["captured", *tags]}
    found.pop("split")
    return {**found, "split": split} if split else found


def test_captured_cases_train_once_reviewed_or_labelled(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk")
    extra = [case(index, "train") for index in range(100, 106)]
    folder = tmp_path / "captured"
    (folder / "week2").mkdir(parents=True)
    (folder / "week1.jsonl").write_text(jsonl([
        captured(extra[0]),                                   # reviewed: tag removed
        captured(extra[1], "unreviewed", "labelled:frontier"),
        captured(extra[2], "unreviewed"),                     # not yet reviewed
        captured(extra[3], "unreviewed", "label-failed"),
    ]))  # fmt: skip
    (folder / "week2/more.jsonl").write_text(jsonl([
        captured(extra[4]), captured(extra[5], split="test"),
    ]))  # fmt: skip
    data = build(root, ("classify",), captures=[folder], use_eval_cases=False, min_examples=2)
    assert sorted(e.source for e in data.train + data.validation) == [
        f"capture:{folder / 'week1.jsonl'}#trace-c100",
        f"capture:{folder / 'week1.jsonl'}#trace-c101",
        f"capture:{folder / 'week2/more.jsonl'}#trace-c104",
    ]
    counts = data.nodes["classify"]
    assert (counts.held_out, len(data.validation)) == (1, 1)  # no eval cases: one held out
    assert counts.skipped == {
        "captured cases still tagged 'unreviewed' (and not labelled by a higher tier)": 1,
        "captured cases whose label run failed": 1,
        "captured cases in the test split 'test'": 1,
    }
    assert data.splits == ""


def test_captured_cases_equal_to_test_cases_are_refused_naming_them(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk")
    tests = [row for row in cases() if row["split"] == "test"]
    file = tmp_path / "captured.jsonl"
    file.write_text(jsonl([captured(case(200, "train")), captured(tests[0]), captured(tests[2])]))
    with pytest.raises(UserError) as raised:
        build(root, ("classify",), captures=[file])
    message = str(raised.value)
    assert message.startswith("2 row(s) have the same flow inputs as a case in split 'test'")
    assert f"{file} line 2 (case trace-{tests[0]['id']}) = test case {tests[0]['id']}" in message
    assert f"{file} line 3 (case trace-{tests[2]['id']}) = test case {tests[2]['id']}" in message


def test_captured_labels_of_the_wrong_type_are_named_with_file_and_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk")
    bad = captured(case(300, "train"))
    bad["expected"]["category"] = ["ORDER"]
    file = tmp_path / "captured.jsonl"
    file.write_text(jsonl([captured(case(301, "train")), bad]))
    with pytest.raises(UserError, match=rf"{file} line 2 \(case trace-c300\): node 'classify'"):
        build(root, ("classify",), captures=[file])


async def paused_and_answered(root: Path, flow: Flow, db: Path) -> None:
    """Three runs pause at `reply` (too long an answer); two are answered, one waits."""
    lm = DummyLM({"fields `category`": {"category": "REFUND"},
                  "fields `order_id`": {"order_id": None},
                  "fields `reply`": {"reply": "far too long " * 5}},
                 adapter=constrained_adapter())  # fmt: skip
    models = ModelPool({}, lms={"small": lm})
    messages = {"t1": "refund order 55901", "t2": "money back please", "t3": "refund order 55905"}
    for thread, message in messages.items():
        paused = await run_flow(flow, {"message": message}, models=models, thread_id=thread,
                                checkpoint_db=db)  # fmt: skip
        assert paused.paused
        if thread != "t2":
            (review,) = paused.reviews
            answer = {review.interrupt_id: {"reply": f"Answer on {thread}"}}
            done = await run_flow(flow, None, models=models, thread_id=thread,
                                  checkpoint_db=db, resume=answer)  # fmt: skip
            assert done.state["reply"] == f"Answer on {thread}"


def test_answered_reviews_teach_the_node_that_asked(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk")
    flow = flow_of(root)
    db = tmp_path / "checkpoints.sqlite"
    asyncio.run(paused_and_answered(root, flow, db))
    data = build(root, ("reply",), reviews=db, use_eval_cases=False, min_examples=1)
    examples = sorted(data.train + data.validation, key=lambda e: e.source)
    assert [e.source.split("#")[0] for e in examples] == ["review:t1", "review:t3"]
    renderer = NodeRenderer.for_node(flow, "reply")
    for example, message, thread in zip(examples, ["refund order 55901", "refund order 55905"],
                                        ["t1", "t3"], strict=True):  # fmt: skip
        assert example.messages == renderer.messages({"message": message, "category": "REFUND"})
        assert json.loads(example.completion) == {"reply": f"Answer on {thread}"}
        assert example.input_hash == input_hash({"message": message, "channel": "email"})
    assert data.nodes["reply"].skipped == {"human reviews not answered yet": 1}
    assert build(root, ("classify",), reviews=db, use_eval_cases=False, min_examples=0).train == ()


def test_answered_reviews_of_test_inputs_are_refused(tmp_path: Path) -> None:
    rows = cases()
    rows[-1]["inputs"]["message"] = "refund order 55905"  # a test case; thread t3 asked it
    root = make_project(tmp_path / "desk", rows)
    db = tmp_path / "checkpoints.sqlite"
    asyncio.run(paused_and_answered(root, flow_of(root), db))
    with pytest.raises(UserError) as raised:
        build(root, ("reply",), reviews=db, use_eval_cases=False, min_examples=1)
    message = str(raised.value)
    assert message.startswith("1 row(s) have the same flow inputs as a case in split 'test'")
    assert "review of node 'reply' on thread 't3'" in message and "= test case c35" in message


def test_an_eval_without_a_test_split_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "desk", cases(test=0))
    with pytest.raises(UserError, match=r"no case in split 'test' \(splits: dev, train\)"):
        build(root, ("classify",))


def test_the_example_projects_classify_node_from_the_category_eval() -> None:
    project = load_project(root=EXAMPLES)
    flow = compile_project_flow(project, "support", "small")
    loaded = load_eval_spec(EXAMPLES / "evalsets/support_category.yaml")
    data = build_training_data(flow, loaded, ["classify"])
    assert (len(data.train), len(data.validation)) == (162, 27)
    assert data.nodes["classify"].duplicates == 0 and data.test_cases == 27
    splits = {case.id: case.split for case in loaded.load_cases()}
    assert {splits[e.source.split("#")[1]] for e in data.train} == {"train"}
    assert {splits[e.source.split("#")[1]] for e in data.validation} == {"dev"}
    test_inputs = {input_hash(c.inputs) for c in loaded.load_cases() if c.split == "test"}
    assert not test_inputs & {e.input_hash for e in data.train + data.validation}
    labels = {json.loads(e.completion)["category"] for e in data.train}
    assert len(labels) == 11
    first = data.train[0]
    assert first.messages[-1]["content"].startswith("[[ ## message ## ]]\n")
    assert first.messages[0]["role"] == "system" and first.messages[-1]["role"] == "user"
