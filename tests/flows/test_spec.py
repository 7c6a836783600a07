from pathlib import Path

import pytest
import yaml

from stepladder import FlowSpecError, flow_from_dict, flow_from_yaml, flow_to_yaml, load_flow
from stepladder.flows import StateField

SAMPLE = Path(__file__).parent / "sample_project"


def test_yaml_file_round_trips_losslessly() -> None:
    spec = load_flow(SAMPLE / "flows" / "triage.yaml")
    dumped = flow_to_yaml(spec)
    again = flow_from_yaml(dumped)
    assert again == spec
    assert flow_to_yaml(again) == dumped
    assert yaml.safe_load(dumped)["nodes"][0] == {
        "id": "normalize",
        "kind": "function",
        "call": "flows.triage_steps:normalize",
        "reads": ["ticket"],
        "writes": ["text"],
    }


def test_dict_and_yaml_give_the_same_spec() -> None:
    text = (SAMPLE / "flows" / "triage.yaml").read_text()
    assert flow_from_dict(yaml.safe_load(text)) == flow_from_yaml(text)


def test_state_shorthand_and_types() -> None:
    spec = load_flow(SAMPLE / "flows" / "triage.yaml")
    assert spec.state["text"] == StateField(type="str")
    assert spec.state["category"].values == ["billing", "shipping", "other"]
    assert spec.state["tags"].reducer == "append"
    assert spec.state["tags"].has_default
    assert not spec.state["reply"].has_default


def test_edges_keep_their_shape() -> None:
    spec = load_flow(SAMPLE / "flows" / "triage.yaml")
    assert spec.edges is not None
    assert spec.edges[3].sources == ["billing"]
    branch = spec.edges[2]
    assert branch.when == "category"
    assert branch.targets == ["billing", "shipping", "human"]


def test_no_edges_means_listed_order() -> None:
    spec = flow_from_dict(
        {
            "name": "chain",
            "nodes": [
                {"id": "a", "kind": "function", "call": "m:f"},
                {"id": "b", "kind": "function", "call": "m:g"},
            ],
        }
    )
    pairs = [(e.sources[0], e.to) for e in spec.effective_edges()]
    assert pairs == [("START", "a"), ("a", "b"), ("b", "END")]


def test_errors_name_path_and_line() -> None:
    text = "name: x\nnodes:\n  - id: a\n    kind: function\n    call: m:f\n    reads: 5\n"
    with pytest.raises(FlowSpecError) as caught:
        flow_from_yaml(text, source=Path("x.yaml"))
    assert "nodes[0].reads (x.yaml, line 6)" in str(caught.value)


@pytest.mark.parametrize(
    ("type_text", "fragment"),
    [
        ("strr", "did you mean 'str'"),
        ("list[", "is not a type"),
        ("dict[int, str]", "dict keys must be str"),
        ("optional", "optional needs a type"),
        ("str[int]", "takes no parameter"),
    ],
)
def test_bad_state_types_list_valid_choices(type_text: str, fragment: str) -> None:
    with pytest.raises(FlowSpecError) as caught:
        flow_from_dict(
            {
                "name": "x",
                "state": {"k": {"type": type_text}},
                "nodes": [{"id": "a", "kind": "function", "call": "m:f"}],
            }
        )
    assert fragment in str(caught.value)
    assert "state.k" in str(caught.value)
