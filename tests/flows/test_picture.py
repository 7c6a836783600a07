"""A flow's graph drawn as a picture: the layout, the SVG and the PNG."""

from __future__ import annotations

import io
import itertools
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.image import imread

from stepladder.flows.loader import flow_from_yaml, load_flow
from stepladder.flows.picture import flow_png, flow_svg, layout_flow
from stepladder.flows.spec import FlowSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flows"
SVG = "{http://www.w3.org/2000/svg}"
BRANCHY = """
name: branchy
state: {a: str, b: str, ok: bool}
nodes:
  - {id: pick, kind: function, call: "x:y", reads: [a], writes: [b]}
  - {id: short_path, kind: function, call: "x:y", reads: [a], writes: [b]}
  - {id: long_way_round, kind: function, call: "x:y", reads: [a], writes: [b]}
  - {id: check, kind: function, call: "x:y", reads: [b], writes: [ok]}
  - {id: finish, kind: function, call: "x:y", reads: [b], writes: [a]}
edges:
  - {from: START, to: pick}
  - {from: pick, when: a, cases: {short: short_path, long: long_way_round, skip: END},
     default: finish}
  - {from: short_path, to: check}
  - {from: long_way_round, when: b, cases: {again: long_way_round, more: pick},
     default: check}
  - {from: check, when: ok, cases: {true: finish, false: pick}}
  - {from: finish, to: END}
"""


@pytest.fixture
def branchy() -> FlowSpec:
    return flow_from_yaml(BRANCHY)


def test_the_layout_runs_top_to_bottom_with_loops_going_back_up(branchy: FlowSpec) -> None:
    layout = layout_flow(branchy)
    boxes = {box.id: box for box in layout.boxes}
    assert set(boxes) == {"START", "END", "pick", "short_path", "long_way_round", "check",
                          "finish"}  # fmt: skip
    assert boxes["START"].y < min(b.y for b in layout.boxes if b.id != "START")
    assert boxes["END"].y > max(b.y for b in layout.boxes if b.id != "END")
    for a, b in itertools.combinations(layout.boxes, 2):  # no two boxes overlap
        apart_x = a.right <= b.left or b.right <= a.left
        apart_y = a.bottom <= b.top or b.bottom <= a.top
        assert apart_x or apart_y, (a.id, b.id)
    for box in layout.boxes:  # everything is inside the picture
        assert box.left >= 0 and box.right <= layout.width
        assert box.top >= 0 and box.bottom <= layout.height
    arrows = {(a.source, a.target): a for a in layout.arrows}
    assert arrows[("pick", "short_path")].label == "short"
    assert arrows[("pick", "finish")].label == "else"
    assert arrows[("check", "finish")].label == "true"
    for (source, target), arrow in arrows.items():
        goes_down = boxes[target].y > boxes[source].y
        assert arrow.loop != goes_down, (source, target)
        points = [arrow.start, *(p for segment in arrow.segments for p in segment), *arrow.head]
        assert all(0 <= x <= layout.width and 0 <= y <= layout.height for x, y in points)
    assert arrows[("check", "pick")].loop and arrows[("long_way_round", "pick")].loop
    self_loop = arrows[("long_way_round", "long_way_round")]
    assert self_loop.loop and self_loop.label == "again"
    assert arrows[("START", "pick")].kind == "static"


def test_the_svg_names_every_node_and_labels_conditional_edges(branchy: FlowSpec) -> None:
    root = ET.fromstring(flow_svg(branchy))
    assert root.tag == f"{SVG}svg"
    nodes = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if g.get("data-node")}
    assert set(nodes) == {node.id for node in branchy.nodes} | {"START", "END"}
    texts = {"".join(t.itertext()) for t in nodes["long_way_round"].iter(f"{SVG}text")}
    assert texts == {"long_way_round", "function"}
    labels = {
        (g.get("data-source"), g.get("data-target")): " ".join(
            "".join(t.itertext()) for t in g.iter(f"{SVG}text")
        )
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge-label"
    }
    assert labels == {
        ("pick", "short_path"): "short", ("pick", "long_way_round"): "long",
        ("pick", "END"): "skip", ("pick", "finish"): "else",
        ("long_way_round", "long_way_round"): "again", ("long_way_round", "pick"): "more",
        ("long_way_round", "check"): "else", ("check", "finish"): "true",
        ("check", "pick"): "false",
    }  # fmt: skip
    edges = [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("edge ")]
    assert len(edges) == 12
    titles = [g.findtext(f"{SVG}title") for g in edges]
    assert "pick → short_path when state key 'a' is short" in titles


def test_cases_to_the_same_node_share_one_labelled_arrow() -> None:
    spec = load_flow(EXAMPLES / "order_support.yaml")
    layout = layout_flow(spec)
    (agent,) = [a for a in layout.arrows if a.target == "agent"]
    assert agent.label.replace("\n", " | ") == "ORDER | DELIVERY | REFUND"
    boxes = {box.id: box for box in layout.boxes}
    assert boxes["classify"].detail == "classify · embeddings"
    assert boxes["agent"].kind == "agent"


def test_the_png_is_the_same_picture_twice_the_size(branchy: FlowSpec) -> None:
    data = flow_png(branchy)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    layout = layout_flow(branchy)
    assert (width, height) == (2 * layout.width, 2 * layout.height)
    pixels = imread(io.BytesIO(data))
    assert pixels.shape[:2] == (height, width)
    colours = {tuple(p) for p in pixels[::7, ::7, :3].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 20  # boxes, text and arrows, not a blank page


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_flow_draws(path: Path) -> None:
    spec = load_flow(path)
    root = ET.fromstring(flow_svg(spec))
    drawn = {g.get("data-node") for g in root.iter(f"{SVG}g")} - {None}
    assert drawn >= {node.id for node in spec.nodes}
