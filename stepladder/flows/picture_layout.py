"""Laying out a flow's graph for a picture: layers from top to bottom, START first, END last.

A small layered ("Sugiyama") layout in pure Python: edges that close a loop are set aside
(found by a depth-first walk from START), the rest put every node one layer below its
deepest predecessor, long edges pass through invisible waypoints, each layer is ordered by
its neighbours' positions (barycentres) and nodes are placed as close to their neighbours as
the order allows. Loops are drawn back up on the right, in a channel of their own; a node
that loops to itself gets a small loop at its side. Every coordinate is in pixels; the
renderers (`stepladder.flows.picture`) only draw what is here.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from stepladder.flows.spec import END, START, FlowSpec

__all__ = ["Arrow", "Box", "Layout", "Point", "label_width", "layout_flow", "text_width"]

Point = tuple[float, float]
ArrowKind = Literal["static", "conditional"]
LabelAnchor = Literal["start", "middle", "end"]

MARGIN = 20.0
NODE_GAP = 36.0  # between neighbours in a layer
LAYER_GAP = 54.0  # between layers
LABEL_LINE = 14.0  # the height of one line of an edge label
WAYPOINT_WIDTH = 14.0
CHANNEL_GAP = 26.0  # between the graph and a loop's channel, and between channels
ARROW_HEAD = 9.0
SELF_LOOP = 34.0  # how far a node's loop to itself reaches out
PORT_SPACING = 18.0
ID_SIZE = 13.0  # font sizes, in pixels
DETAIL_SIZE = 11.0
LABEL_SIZE = 11.0
LABEL_WRAP = 20  # characters; longer labels break at " | "
OTHERWISE = "else"


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate of the width of `text` in a sans-serif font of `size` pixels."""
    return len(text) * size * (0.64 if bold else 0.6)


@dataclass(frozen=True)
class Box:
    """A node (or START/END) drawn as a box.

    Attributes:
        id: The node's id, or `START` / `END`.
        kind: The node's kind, or `start` / `end`.
        detail: The second line (the kind and the first rung), empty for START and END.
        x: The centre's x.
        y: The centre's y.
        width: The width.
        height: The height.
        description: The node's description (a tooltip).
    """

    id: str
    kind: str
    detail: str
    x: float
    y: float
    width: float
    height: float
    description: str = ""

    @property
    def top(self) -> float:
        """The top edge's y."""
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        """The bottom edge's y."""
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        """The right edge's x."""
        return self.x + self.width / 2

    @property
    def left(self) -> float:
        """The left edge's x."""
        return self.x - self.width / 2


@dataclass(frozen=True)
class Arrow:
    r"""An edge drawn as a curve of cubic Bézier segments ending in an arrow head.

    Attributes:
        source: The source node's id.
        target: The target node's id.
        kind: `static`, or `conditional` (taken for some values of a state key or router).
        start: Where the curve starts.
        segments: Each segment's two control points and its end.
        head: The arrow head's tip and its two back corners.
        label: The case labels that take this edge (conditional edges), lines joined by "\n".
        label_at: The centre of the label.
        title: What the edge means, in words (a tooltip).
        loop: Whether the edge goes back up (closes a loop).
        label_anchor: Where `label_at` is on the label: its `start` (left), `middle`, `end`.
    """

    source: str
    target: str
    kind: ArrowKind
    start: Point
    segments: tuple[tuple[Point, Point, Point], ...]
    head: tuple[Point, Point, Point]
    label: str = ""
    label_at: Point | None = None
    title: str = ""
    loop: bool = False
    label_anchor: LabelAnchor = "middle"

    @property
    def label_left(self) -> float:
        """The left edge of the label."""
        if self.label_at is None:
            return 0.0
        width = label_width(self.label)
        return (
            self.label_at[0] - {"start": 0.0, "middle": width / 2, "end": width}[self.label_anchor]
        )


@dataclass(frozen=True)
class Layout:
    """A flow's picture: its size, boxes and arrows (in pixels, y pointing down)."""

    name: str
    width: float
    height: float
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]


@dataclass
class _Edge:
    source: str
    target: str
    kind: ArrowKind
    labels: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def label(self) -> str:
        return _wrap(" | ".join(self.labels))


def layout_flow(spec: FlowSpec) -> Layout:
    """Lay out `spec`'s graph: START at the top, END at the bottom, loops back up on the right.

    A node that loops to itself gets a small loop at its left side.
    """
    edges = _edges(spec)
    names = _names(spec, edges)
    boxes = {name: _box_size(spec, name) for name in names}
    back = _back_edges(names, edges)
    forward = [e for e in edges if id(e) not in back and e.source != e.target]
    layers = _layers(names, forward)
    rows, chains = _rows(names, layers, forward)
    _order(rows, forward, chains)
    sizes = {name: (box.width, box.height) for name, box in boxes.items()}
    for edge in edges:  # room for a loop (and its label) at the side of its node
        if edge.source == edge.target:
            room = SELF_LOOP + (label_width(edge.label) + 4 if edge.labels else 0)
            width, height = sizes[edge.source]
            sizes[edge.source] = (width + 2 * room, height)
    xs = _place_x(rows, forward, chains, sizes)
    ys, tops, bottoms = _place_y(rows, sizes, forward, layers)
    placed = {name: replace(box, x=xs[name], y=ys[name]) for name, box in boxes.items()}
    arrows = _forward_arrows(forward, chains, placed, xs, tops, bottoms, layers)
    loops = _loop_arrows([e for e in edges if id(e) in back], placed, layers, arrows)
    arrows += loops
    placed, arrows = _shift(placed, arrows)
    right = max(
        [b.right for b in placed.values()]
        + [_label_right(a) for a in arrows]
        + [point[0] for a in arrows for segment in a.segments for point in segment]
    )
    width = right + MARGIN
    height = max(b.bottom for b in placed.values()) + MARGIN
    return Layout(spec.name, round(width), round(height), tuple(placed.values()), tuple(arrows))


def _shift(boxes: dict[str, Box], arrows: list[Arrow]) -> tuple[dict[str, Box], list[Arrow]]:
    """Move everything right when something (a loop on the left) sticks out of the margin."""
    lefts = [b.left for b in boxes.values()] + [a.label_left for a in arrows if a.label]
    lefts += [p[0] for a in arrows for segment in a.segments for p in segment]
    dx = MARGIN - min(lefts)
    if dx <= 0:
        return boxes, arrows

    def moved(point: Point) -> Point:
        return (point[0] + dx, point[1])

    shifted = [
        replace(
            a,
            start=moved(a.start),
            segments=tuple((moved(c1), moved(c2), moved(e)) for c1, c2, e in a.segments),
            head=(moved(a.head[0]), moved(a.head[1]), moved(a.head[2])),
            label_at=moved(a.label_at) if a.label_at is not None else None,
        )
        for a in arrows
    ]
    return {name: replace(b, x=b.x + dx) for name, b in boxes.items()}, shifted


# -- the graph ---------------------------------------------------------------------------------


def _edges(spec: FlowSpec) -> list[_Edge]:
    """The drawn edges: one per source and target; cases to the same target share one."""
    drawn: list[_Edge] = []
    for edge in spec.effective_edges():
        if edge.to is not None:
            drawn += [_Edge(source, edge.to, "static") for source in edge.sources]
            continue
        source = edge.sources[0]
        condition = f"state key '{edge.when}'" if edge.when else f"router {edge.router}"
        by_target: dict[str, _Edge] = {}
        cases = [(_case(label), target) for label, target in (edge.cases or {}).items()]
        if edge.default is not None:
            cases.append((OTHERWISE, edge.default))
        for label, target in cases:
            found = by_target.setdefault(target, _Edge(source, target, "conditional"))
            found.labels.append(label)
        for found in by_target.values():
            values = ", ".join(v for v in found.labels if v != OTHERWISE)
            other = " (or any other value)" if OTHERWISE in found.labels else ""
            found.title = (
                f"{source} → {found.target} when {condition} is {values}{other}"
                if values
                else f"{source} → {found.target} when {condition} matches no case"
            )
        drawn += by_target.values()
    return drawn


def _case(label: object) -> str:
    return str(label).lower() if isinstance(label, bool) else str(label)


def _wrap(text: str) -> str:
    if len(text) <= LABEL_WRAP:
        return text
    lines: list[str] = []
    for part in text.split(" | "):
        if lines and len(lines[-1]) + 3 + len(part) <= LABEL_WRAP:
            lines[-1] += " | " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def _names(spec: FlowSpec, edges: Sequence[_Edge]) -> list[str]:
    used = {e.source for e in edges} | {e.target for e in edges}
    names = [START] if START in used else []
    names += [node.id for node in spec.nodes]
    return names + ([END] if END in used else [])


def _box_size(spec: FlowSpec, name: str) -> Box:
    if name in (START, END):
        return Box(name, name.lower(), "", 0, 0, 72, 30)
    node = next(n for n in spec.nodes if n.id == name)
    kind = node.kind_name()
    detail = node.detail() + (f" · each of {node.map.over}" if node.map is not None else "")
    width = max(text_width(name, ID_SIZE, bold=True), text_width(detail, DETAIL_SIZE)) + 28
    return Box(name, kind, detail, 0, 0, max(width, 104.0), 46, node.description)


def _back_edges(names: Sequence[str], edges: Sequence[_Edge]) -> set[int]:
    """The edges (by `id`) that close a loop, found by a depth-first walk from START."""
    outgoing: dict[str, list[_Edge]] = defaultdict(list)
    for edge in edges:
        outgoing[edge.source].append(edge)
    back: set[int] = set()
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    for root in names:
        if root in state:
            continue
        stack = [(root, iter(outgoing[root]))]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step.target) == 1:
                back.add(id(step))
            elif step.target not in state:
                state[step.target] = 1
                stack.append((step.target, iter(outgoing[step.target])))
    return back


def _layers(names: Sequence[str], forward: Sequence[_Edge]) -> dict[str, int]:
    """Each node's layer: one below its deepest predecessor; END below everything."""
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in forward:
        incoming[edge.target].append(edge.source)
    layer: dict[str, int] = {}

    def depth(name: str) -> int:  # the forward edges have no cycle
        if name not in layer:
            layer[name] = 0  # guards against a cycle all the same
            layer[name] = max((depth(s) + 1 for s in incoming[name]), default=0)
        return layer[name]

    for name in names:
        depth(name)
    if END in layer:
        layer[END] = max((v for k, v in layer.items() if k != END), default=-1) + 1
    return layer


def _rows(
    names: Sequence[str], layers: dict[str, int], forward: Sequence[_Edge]
) -> tuple[list[list[str]], dict[int, list[str]]]:
    """The layers' members in a first order, and each long edge's waypoints (by edge `id`)."""
    rows: list[list[str]] = [[] for _ in range(max(layers.values(), default=0) + 1)]
    for name in names:
        rows[layers[name]].append(name)
    chains: dict[int, list[str]] = {}
    for edge in forward:
        low, high = layers[edge.source], layers[edge.target]
        waypoints = [f"\0{id(edge)}:{layer}" for layer in range(low + 1, high)]
        for layer, waypoint in zip(range(low + 1, high), waypoints, strict=True):
            rows[layer].append(waypoint)
        chains[id(edge)] = [edge.source, *waypoints, edge.target]
    return rows, chains


def _links(forward: Sequence[_Edge], chains: dict[int, list[str]]) -> list[tuple[str, str]]:
    return [pair for e in forward for pair in zip(chains[id(e)], chains[id(e)][1:], strict=False)]


def _order(rows: list[list[str]], forward: Sequence[_Edge], chains: dict[int, list[str]]) -> None:
    """Order each layer by its neighbours' mean position (sweeps down, up, then down)."""
    links = _links(forward, chains)
    above: dict[str, list[str]] = defaultdict(list)
    below: dict[str, list[str]] = defaultdict(list)
    for upper, lower in links:
        above[lower].append(upper)
        below[upper].append(lower)
    for downward in (True, False, True, False, True):
        indices = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for index in indices:
            near = rows[index - 1] if downward else rows[index + 1]
            position = {name: i for i, name in enumerate(near)}
            neighbours = above if downward else below
            keys = {}
            for i, name in enumerate(rows[index]):
                seen = [position[n] for n in neighbours[name] if n in position]
                keys[name] = sum(seen) / len(seen) if seen else float(i)
            rows[index].sort(key=lambda name: keys[name])


def _place_x(
    rows: list[list[str]],
    forward: Sequence[_Edge],
    chains: dict[int, list[str]],
    sizes: dict[str, tuple[float, float]],
) -> dict[str, float]:
    """Each member's x: near its neighbours' mean, in its layer's order, never overlapping."""

    def width(name: str) -> float:
        return sizes[name][0] if name in sizes else WAYPOINT_WIDTH

    x: dict[str, float] = {}
    for row in rows:
        left = 0.0
        for name in row:
            x[name] = left + width(name) / 2
            left += width(name) + NODE_GAP
        for name in row:  # centre the row on 0
            x[name] -= (left - NODE_GAP) / 2
    neighbours: dict[str, list[str]] = defaultdict(list)
    for upper, lower in _links(forward, chains):
        neighbours[lower].append(upper)
        neighbours[upper].append(lower)
    for _ in range(6):
        for row in rows:
            wanted = [
                sum(x[n] for n in neighbours[name]) / len(neighbours[name])
                if neighbours[name]
                else x[name]
                for name in row
            ]
            gaps = [(width(a) + width(b)) / 2 + NODE_GAP for a, b in itertools.pairwise(row)]
            for name, value in zip(row, _spread(wanted, gaps), strict=True):
                x[name] = value
    shift = MARGIN - min(x[name] - width(name) / 2 for row in rows for name in row)
    return {name: value + shift for name, value in x.items()}


def _spread(wanted: Sequence[float], gaps: Sequence[float]) -> list[float]:
    """Positions closest to `wanted` (least squares) keeping the order and the `gaps`."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # pool adjacent violators: [mean, count]
    for target in (w - o for w, o in zip(wanted, offsets, strict=True)):
        blocks.append([target, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            last = blocks[-1]
            last[0] = (last[0] * last[1] + mean * count) / (last[1] + count)
            last[1] += count
    values = [mean for mean, count in blocks for _ in range(int(count))]
    return [v + o for v, o in zip(values, offsets, strict=True)]


def _place_y(
    rows: list[list[str]],
    sizes: dict[str, tuple[float, float]],
    forward: Sequence[_Edge],
    layers: dict[str, int],
) -> tuple[dict[str, float], list[float], list[float]]:
    """Each box's centre y, and each layer's top and bottom (labels get room below)."""
    label_lines = [0] * len(rows)
    for edge in forward:
        if edge.labels:
            lines = edge.label.count("\n") + 1
            label_lines[layers[edge.source]] = max(label_lines[layers[edge.source]], lines)
    y: dict[str, float] = {}
    tops: list[float] = []
    bottoms: list[float] = []
    top = MARGIN
    for index, row in enumerate(rows):
        height = max((sizes[n][1] for n in row if n in sizes), default=0.0)
        for name in row:
            y[name] = top + height / 2
        tops.append(top)
        bottoms.append(top + height)
        top += height + LAYER_GAP + label_lines[index] * LABEL_LINE
    return y, tops, bottoms


# -- arrows ------------------------------------------------------------------------------------


def _forward_arrows(
    forward: Sequence[_Edge],
    chains: dict[int, list[str]],
    boxes: dict[str, Box],
    x: dict[str, float],
    tops: list[float],
    bottoms: list[float],
    layers: dict[str, int],
) -> list[Arrow]:
    """Edges going down: from the source's bottom, through waypoints, into the target's top."""
    leaving = _ports(forward, chains, boxes, x, first=True)
    entering = _ports(forward, chains, boxes, x, first=False)
    arrows = []
    for edge in forward:
        chain = chains[id(edge)]
        points: list[Point] = [(leaving[id(edge)], boxes[edge.source].bottom)]
        for waypoint in chain[1:-1]:
            layer = int(waypoint.rsplit(":", 1)[1])
            points += [(x[waypoint], tops[layer]), (x[waypoint], bottoms[layer])]
        points.append((entering[id(edge)], boxes[edge.target].top))
        segments = []
        for index, (a, b) in enumerate(itertools.pairwise(points)):
            if index % 2 == 1:  # through a waypoint's layer: straight down
                segments.append((a, b, b))
                continue
            bend = (b[1] - a[1]) / 2
            segments.append(((a[0], a[1] + bend), (b[0], b[1] - bend), b))
        first = segments[0]
        label_at = _bezier(points[0], *first, 0.5) if edge.labels else None
        arrows.append(_arrow(edge, points[0], segments, label_at))
    return _spread_labels(arrows, layers)


def _spread_labels(arrows: list[Arrow], layers: dict[str, int]) -> list[Arrow]:
    """Move the labels below one layer apart sideways, so that none covers another."""
    rows: dict[int, list[int]] = defaultdict(list)
    for index, arrow in enumerate(arrows):
        if arrow.label_at is not None:
            rows[layers[arrow.source]].append(index)
    for row in rows.values():
        row.sort(key=lambda i: arrows[i].label_at[0])  # type: ignore[index]
        widths = [label_width(arrows[i].label) for i in row]
        gaps = [(a + b) / 2 + 6 for a, b in itertools.pairwise(widths)]
        wanted = [arrows[i].label_at[0] for i in row]  # type: ignore[index]
        for i, x in zip(row, _spread(wanted, gaps), strict=True):
            arrows[i] = replace(arrows[i], label_at=(x, arrows[i].label_at[1]))  # type: ignore[index]
    return arrows


def label_width(label: str) -> float:
    """The width of an edge label's box (its widest line, and room around it)."""
    return max(text_width(line, LABEL_SIZE) for line in label.split("\n")) + 8


def _ports(
    forward: Sequence[_Edge],
    chains: dict[int, list[str]],
    boxes: dict[str, Box],
    x: dict[str, float],
    *,
    first: bool,
) -> dict[int, float]:
    """Where each edge leaves its source (or enters its target): spread along the side."""
    groups: dict[str, list[_Edge]] = defaultdict(list)
    for edge in forward:
        groups[edge.source if first else edge.target].append(edge)
    ports: dict[int, float] = {}
    for name, group in groups.items():
        box = boxes[name]
        group.sort(key=lambda e: x[chains[id(e)][1] if first else chains[id(e)][-2]])
        spacing = min(PORT_SPACING, (box.width - 16) / max(len(group), 1))
        for index, edge in enumerate(group):
            ports[id(edge)] = box.x + (index - (len(group) - 1) / 2) * spacing
    return ports


def _loop_arrows(
    loops: Sequence[_Edge], boxes: dict[str, Box], layers: dict[str, int], drawn: Sequence[Arrow]
) -> list[Arrow]:
    """Edges going back up: a small loop left of a box, or up a channel right of the graph.

    Each channel passes right of everything drawn between its two ends (boxes, other edges
    and labels), the shortest loops nearest the graph; where several loops meet one box's
    side, their ends are spread along it so that none crosses another.
    """
    arrows = [_self_loop(e, boxes[e.source]) for e in loops if e.source == e.target]
    others = sorted(
        (e for e in loops if e.source != e.target),
        key=lambda e: layers[e.source] - layers[e.target],
    )
    channels: list[float] = []
    labelled: list[Arrow] = []
    for edge in others:
        source, target = boxes[edge.source], boxes[edge.target]
        low, high = target.top, source.bottom
        occupied = [b.right for b in boxes.values() if b.bottom >= low and b.top <= high]
        for arrow in drawn:
            occupied += [p[0] for s in arrow.segments for p in s if low <= p[1] <= high]
        for arrow in [*drawn, *labelled]:
            if arrow.label_at is not None and low <= arrow.label_at[1] <= high:
                occupied.append(_label_right(arrow))
        occupied += [c for c, e in zip(channels, others, strict=False) if _overlap(e, edge, boxes)]
        channel = max(occupied) + CHANNEL_GAP
        channels.append(channel)
        if edge.labels:  # a stand-in, so later channels pass right of this label
            middle = (source.y + target.y) / 2
            labelled.append(_arrow(edge, (channel, middle), [((channel, middle),) * 3],
                                   (channel + 4, middle), loop=True, anchor="start"))  # fmt: skip
    ends = _side_ports(others, channels, boxes)
    turn = 10.0
    for index, (edge, channel) in enumerate(zip(others, channels, strict=True)):
        start = (boxes[edge.source].right, ends[(index, "start")])
        end = (boxes[edge.target].right, ends[(index, "end")])
        segments = [
            ((channel - turn, start[1]), (channel, start[1]), (channel, start[1] - turn)),
            ((channel, start[1] - turn), (channel, end[1] + turn), (channel, end[1] + turn)),
            ((channel, end[1]), (channel - turn, end[1]), end),
        ]
        middle = (boxes[edge.source].y + boxes[edge.target].y) / 2
        label_at = (channel + 4, middle) if edge.labels else None
        arrows.append(_arrow(edge, start, segments, label_at, loop=True, anchor="start"))
    return arrows


def _self_loop(edge: _Edge, box: Box) -> Arrow:
    """A node that loops to itself: a small loop at its left side, the label left of it."""
    start, end = (box.left, box.y - 8), (box.left, box.y + 8)
    reach = box.left - SELF_LOOP
    segments = [((reach, start[1] - 22), (reach, end[1] + 22), end)]
    label_at = (reach + 6, box.y) if edge.labels else None
    return _arrow(edge, start, segments, label_at, loop=True, anchor="end")


def _overlap(a: _Edge, b: _Edge, boxes: dict[str, Box]) -> bool:
    """Whether two loops' vertical spans overlap (their channels must then differ)."""
    low_a, high_a = boxes[a.target].top, boxes[a.source].bottom
    low_b, high_b = boxes[b.target].top, boxes[b.source].bottom
    return low_a <= high_b and low_b <= high_a


def _side_ports(
    loops: Sequence[_Edge], channels: Sequence[float], boxes: dict[str, Box]
) -> dict[tuple[int, str], float]:
    """The y of each loop's start and end on its box's right side, spread when several meet.

    On one side, loops arriving come first (the outermost channel highest), then loops
    leaving (the innermost highest): their horizontal parts then cross nothing.
    """
    sides: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for index, (edge, channel) in enumerate(zip(loops, channels, strict=True)):
        sides[edge.target].append((0, index, -channel))
        sides[edge.source].append((1, index, channel))
    ports: dict[tuple[int, str], float] = {}
    for name, ends in sides.items():
        box = boxes[name]
        ends.sort(key=lambda end: (end[0], end[2]))
        step = min(10.0, (box.height - 12) / max(len(ends) - 1, 1))
        for k, (leaving, index, _) in enumerate(ends):
            ports[(index, "start" if leaving else "end")] = box.y + (k - (len(ends) - 1) / 2) * step
    return ports


def _arrow(
    edge: _Edge,
    start: Point,
    segments: Iterable[tuple[Point, Point, Point]],
    label_at: Point | None,
    *,
    loop: bool = False,
    anchor: LabelAnchor = "middle",
) -> Arrow:
    """The arrow: the curve stops short of its end, where the head's tip is."""
    parts = list(segments)
    c1, c2, tip = parts[-1]
    behind = c2 if c2 != tip else c1 if c1 != tip else (parts[-2][2] if len(parts) > 1 else start)
    dx, dy = tip[0] - behind[0], tip[1] - behind[1]
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / length, dy / length
    base = (tip[0] - ux * ARROW_HEAD, tip[1] - uy * ARROW_HEAD)
    half = ARROW_HEAD / 2
    head = (
        tip,
        (base[0] - uy * half, base[1] + ux * half),
        (base[0] + uy * half, base[1] - ux * half),
    )
    parts[-1] = (c1, c2 if c2 != tip else base, base)
    return Arrow(
        source=edge.source,
        target=edge.target,
        kind=edge.kind,
        start=start,
        segments=tuple(parts),
        head=head,
        label=edge.label,
        label_at=label_at,
        title=edge.title or f"{edge.source} → {edge.target}",
        loop=loop,
        label_anchor=anchor,
    )


def _bezier(a: Point, b: Point, c: Point, d: Point, t: float) -> Point:
    s = 1 - t
    return (
        s**3 * a[0] + 3 * s * s * t * b[0] + 3 * s * t * t * c[0] + t**3 * d[0],
        s**3 * a[1] + 3 * s * s * t * b[1] + 3 * s * t * t * c[1] + t**3 * d[1],
    )


def _label_right(arrow: Arrow) -> float:
    if arrow.label_at is None:
        return 0.0
    return arrow.label_left + label_width(arrow.label)
