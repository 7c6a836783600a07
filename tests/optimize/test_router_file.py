import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from stepladder.errors import UserError
from stepladder.optimize.router_file import prompt_id, read_router_file


def write_rows(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(prompt: str = "hi", quality: Any = None, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "quality": quality or {"small": 0.0, "frontier": 1.0}, **extra}


def test_reads_rows_in_the_first_rows_tier_order_without_costs(tmp_path: Path) -> None:
    file = write_rows(
        tmp_path / "d.jsonl",
        [
            row("a", {"frontier": 1, "small": True}, id="q1"),
            "",
            row("b", {"small": 0.25, "frontier": 0.5}, id=7),
            row("c", {"small": False, "frontier": 0.75}),
        ],
    )
    data = read_router_file(file)
    assert data.tiers == ["frontier", "small"]
    assert data.ids == ["q1", "7", prompt_id("c")]
    assert data.texts == ["a", "b", "c"]
    assert data.quality["small"].tolist() == [1.0, 0.25, 0.0]
    assert data.cost == {} and data.cost_matrix(data.tiers) is None
    records = data.tier_records()
    assert records["frontier"].quality == pytest.approx(0.75)
    assert records["frontier"].cost_usd_per_call == 0.0 and records["frontier"].run_id is None


def test_costs_order_the_tiers_cheapest_first(tmp_path: Path) -> None:
    quality = {"frontier": 1.0, "medium": 1.0, "small": 0.0}
    file = write_rows(
        tmp_path / "d.jsonl",
        [
            row("a", quality, cost={"frontier": 0.01, "medium": 0.002, "small": 0.0}),
            row("b", quality, cost={"frontier": 0.03, "medium": 0.004, "small": 0.0002}),
            row("c", quality),  # no cost: filled with the tier's mean where a matrix is asked
        ],
    )
    data = read_router_file(file)
    assert data.tiers == ["small", "medium", "frontier"]
    assert data.mean_costs() == pytest.approx({"small": 0.0001, "medium": 0.003, "frontier": 0.02})
    matrix = data.cost_matrix(["small", "frontier"])
    assert matrix is not None
    assert matrix[:, 1].tolist() == pytest.approx([0.01, 0.03, 0.02])
    assert data.tier_records()["medium"].cost_usd_per_call == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (['{"prompt": "a",'], r"d\.jsonl line 1: invalid JSON"),
        ([row(), "[1, 2]"], r"line 2: expected a JSON object"),
        ([row(), {"quality": {"small": 0, "frontier": 1}}], r"line 2: `prompt` must be .*missing"),
        ([row(prompt="  ")], r"line 1: `prompt` must be a non-empty string"),
        ([row(), {"prompt": "x"}], r"line 2: `quality` must be an object of tier -> number"),
        (
            [row(quality={"small": 1.5, "frontier": 1})],
            r"line 1: `quality.small` is 1.5; .*\[0, 1\]",
        ),
        ([row(quality={"small": None, "frontier": 1})], r"`quality.small` is null"),
        ([row(quality={"small": "1", "frontier": 1})], r"`quality.small` is \"1\""),
        ([row(quality={"small": 1})], r"line 1: `quality` names 1 tier\(s\) \(small\)"),
        (
            [row(), row(quality={"small": 1, "medium": 1})],
            r"line 2: `quality` lacks frontier; adds medium; every row must name the first row's "
            r"tiers: small, frontier",
        ),
        ([row(cost={"small": -0.1, "frontier": 1})], r"line 1: `cost.small` is -0.1; .*>= 0"),
        ([row(cost={"small": 0.1})], r"line 1: `cost` lacks frontier"),
        ([row(id=[1])], r"line 1: `id` must be a string or an integer"),
        ([""], r"no rows"),
    ],
)
def test_bad_rows_name_the_file_line_and_field(
    tmp_path: Path, rows: list[Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        read_router_file(write_rows(tmp_path / "d.jsonl", rows))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--data .*nope\.jsonl: no such file"):
        read_router_file(tmp_path / "nope.jsonl")


def load_converter() -> Any:
    path = Path(__file__).parents[2] / "examples" / "router_data" / "convert.py"
    spec = importlib.util.spec_from_file_location("router_data_convert", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROUTELLM_ROWS = [  # the fields of shared/data/routing/routellm_gsm8k.jsonl and _mtbench.jsonl
    {"id": "g-0", "prompt": "2 + 2?", "contaminated": True,
     "correct__mixtral": True, "correct__gpt-4": True},
    {"id": "g-1", "prompt": "3 * 7?", "contaminated": False,
     "correct__mixtral": False, "response_chars__mixtral": 80, "correct__gpt-4": True},
    {"id": "m-0", "prompt": "Write a poem.", "contaminated": False, "score__mixtral": 7.5,
     "score_t1__mixtral": 8, "score__gpt-4": 9.0, "score__router_unify": 9.5},
]  # fmt: skip


def test_routellm_rows_convert_to_data_rows(tmp_path: Path) -> None:
    convert = load_converter()
    rows = list(convert.routellm_rows(ROUTELLM_ROWS, {"small": "mixtral", "frontier": "gpt-4"}))
    assert [r["id"] for r in rows] == ["g-1", "m-0"]  # contaminated rows dropped
    assert rows[0]["quality"] == {"small": 0.0, "frontier": 1.0}
    assert rows[1]["quality"] == {"small": 0.75, "frontier": 0.9}  # judge score / 10
    named = list(convert.routellm_rows(ROUTELLM_ROWS[1:2]))
    assert named[0]["quality"] == {"mixtral": 0.0, "gpt-4": 1.0}
    data = read_router_file(write_rows(tmp_path / "r.jsonl", rows))
    assert data.tiers == ["small", "frontier"] and data.ids == ["g-1", "m-0"]


def test_routerbench_records_convert_with_costs(tmp_path: Path) -> None:
    convert = load_converter()
    records = [
        {"sample_id": "mmlu.1", "prompt": "Q1", "eval_name": "mmlu", "gpt-4": 1.0,
         "gpt-4|total_cost": 0.003, "mistral": 0.0, "mistral|total_cost": 0.0001},
        {"sample_id": "gsm.1", "prompt": "Q2", "eval_name": "grade-school-math", "gpt-4": 1.0,
         "gpt-4|total_cost": 0.004, "mistral": 1.0, "mistral|total_cost": 0.0002},
        {"sample_id": "mmlu.2", "prompt": "Q3", "eval_name": "mmlu", "gpt-4": float("nan"),
         "gpt-4|total_cost": 0.003, "mistral": 1.0, "mistral|total_cost": 0.0001},
    ]  # fmt: skip
    tiers = {"frontier": "gpt-4", "small": "mistral"}
    rows = list(convert.routerbench_rows(records, tiers, eval_name="mmlu"))
    assert rows == [
        {"id": "mmlu.1", "prompt": "Q1", "quality": {"frontier": 1.0, "small": 0.0},
         "cost": {"frontier": 0.003, "small": 0.0001}},
    ]  # fmt: skip
    both = list(convert.routerbench_rows(records, tiers))
    data = read_router_file(write_rows(tmp_path / "rb.jsonl", both))
    assert data.tiers == ["small", "frontier"]  # cheapest first, by mean cost
    assert data.mean_costs() == pytest.approx({"small": 0.00015, "frontier": 0.0035})


# The first 40 rows of RouteLLM's recorded GSM8K file (Apache-2.0, lm-sys/RouteLLM; the full
# file is `../shared/data/routing/routellm_gsm8k.jsonl`), 4 of them marked contaminated.
RECORDED = Path(__file__).parent / "fixtures" / "routellm_gsm8k_head.jsonl"


def test_routellm_recorded_rows_convert(tmp_path: Path) -> None:
    convert = load_converter()
    with RECORDED.open(encoding="utf-8") as f:
        head = [json.loads(line) for line in f]
    out = tmp_path / "gsm8k.jsonl"
    assert convert.main(["routellm", str(RECORDED), str(out), "--tier",
                         "small=mixtral-8x7b-instruct-v0.1", "--tier",
                         "frontier=gpt-4-1106-preview"]) == 0  # fmt: skip
    data = read_router_file(out)
    kept = [r for r in head if not r["contaminated"]]
    assert data.tiers == ["small", "frontier"] and len(data.ids) == len(kept) == 36
    first = next(r for r in head if not r["contaminated"])
    i = data.ids.index(first["id"])
    assert data.texts[i] == first["prompt"]
    assert data.quality["frontier"][i] == float(first["correct__gpt-4-1106-preview"])
