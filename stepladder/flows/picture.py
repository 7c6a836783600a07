"""A flow's graph as a picture: SVG text or PNG bytes, drawn offline in pure Python.

Both draw the same layout (`stepladder.flows.picture_layout`): START at the top and END at the
bottom, each node a box coloured and shaped by its kind (its id, then its kind and first
rung), edges as arrows, conditional edges labelled with the case labels that take them
(`else` for the default) and loops drawn back up on the right. No graphviz, no web service:
the PNG is drawn by matplotlib (its Agg canvas, no display needed).

```python
from stepladder.flows.picture import flow_png, flow_svg

Path("support.svg").write_text(flow_svg(spec))
```
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from stepladder.flows.picture_layout import (
    DETAIL_SIZE,
    ID_SIZE,
    LABEL_LINE,
    LABEL_SIZE,
    Arrow,
    Box,
    Layout,
    label_width,
    layout_flow,
)
from stepladder.flows.spec import FlowSpec

__all__ = ["KIND_STYLES", "KindStyle", "flow_png", "flow_svg", "layout_flow"]

FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif"
TEXT = "#1d2330"
MUTED = "#475467"
EDGE = "#667085"
CONDITIONAL = "#b54708"
PNG_SCALE = 2.0  # pixels of the PNG per layout pixel


@dataclass(frozen=True)
class KindStyle:
    """How a kind of node is drawn: its shape, fill and outline."""

    shape: str  # rect, round, hexagon, pill
    fill: str
    stroke: str


KIND_STYLES: dict[str, KindStyle] = {
    "start": KindStyle("pill", "#1d2330", "#1d2330"),
    "end": KindStyle("pill", "#1d2330", "#1d2330"),
    "function": KindStyle("rect", "#eef2f6", "#475467"),
    "classify": KindStyle("round", "#fff4e5", "#dc6803"),
    "extract": KindStyle("round", "#e6f6f4", "#0e9384"),
    "generate": KindStyle("round", "#f4f0ff", "#7a5af8"),
    "agent": KindStyle("round", "#ecfdf3", "#079455"),
    "retrieve": KindStyle("rect", "#fefbe8", "#ca8504"),
    "route": KindStyle("hexagon", "#fef3f2", "#d92d20"),
}
"""The style of each node kind; a kind not listed is drawn as `function`."""


def style_of(kind: str) -> KindStyle:
    """The style of a node kind."""
    return KIND_STYLES.get(kind, KIND_STYLES["function"])


def flow_svg(spec: FlowSpec) -> str:
    """The flow's graph as a standalone SVG document.

    Each node is a `<g class="node" data-node="ID">` and each edge a `<g class="edge"
    data-source=... data-target=...>`, with a `<title>` saying what it is, so a page that
    shows the picture can find and mark them.
    """
    layout = layout_flow(spec)
    return _Svg(layout).render()


def flow_png(spec: FlowSpec) -> bytes:
    """The flow's graph as PNG bytes (the SVG's layout, twice its size in pixels)."""
    return _png(layout_flow(spec))


# -- SVG ---------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _point(point: tuple[float, float]) -> str:
    return f"{_number(point[0])},{_number(point[1])}"


def _path(arrow: Arrow) -> str:
    parts = [f"M{_point(arrow.start)}"]
    parts += [f"C{_point(c1)} {_point(c2)} {_point(end)}" for c1, c2, end in arrow.segments]
    return " ".join(parts)


def _outline(box: Box) -> list[tuple[float, float]] | None:
    """The hexagon's corners (other shapes are rectangles)."""
    if style_of(box.kind).shape != "hexagon":
        return None
    cut = min(14.0, box.height / 2)
    return [
        (box.left, box.y), (box.left + cut, box.top), (box.right - cut, box.top),
        (box.right, box.y), (box.right - cut, box.bottom), (box.left + cut, box.bottom),
    ]  # fmt: skip


def _radius(box: Box) -> float:
    shape = style_of(box.kind).shape
    return {"pill": box.height / 2, "round": 10.0}.get(shape, 3.0)


class _Svg:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.lines: list[str] = []

    def render(self) -> str:
        layout = self.layout
        size = f'width="{_number(layout.width)}" height="{_number(layout.height)}"'
        view = f'viewBox="0 0 {_number(layout.width)} {_number(layout.height)}"'
        self.lines = [
            f'<svg xmlns="http://www.w3.org/2000/svg" {size} {view} role="img" '
            f"aria-label={quoteattr('flow ' + layout.name)} font-family={quoteattr(FONT)} "
            f'class="flow-graph">',
            f"<title>{escape('flow ' + layout.name)}</title>",
            f'<rect width="{_number(layout.width)}" height="{_number(layout.height)}" '
            'fill="#ffffff"/>',
            '<g class="edges">',
        ]
        for arrow in layout.arrows:
            self._arrow(arrow)
        self.lines.append('</g>\n<g class="nodes">')
        for box in layout.boxes:
            self._box(box)
        self.lines.append('</g>\n<g class="labels">')
        for arrow in layout.arrows:
            self._label(arrow)
        self.lines.append("</g>\n</svg>\n")
        return "\n".join(self.lines)

    def _arrow(self, arrow: Arrow) -> None:
        colour = CONDITIONAL if arrow.kind == "conditional" else EDGE
        loop = " loop" if arrow.loop else ""
        dash = ' stroke-dasharray="5 3"' if arrow.kind == "conditional" else ""
        self.lines += [
            f'<g class="edge {arrow.kind}{loop}" data-source={quoteattr(arrow.source)} '
            f"data-target={quoteattr(arrow.target)}>",
            f"<title>{escape(arrow.title)}</title>",
            f'<path d="{_path(arrow)}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>',
            f'<polygon points="{" ".join(_point(p) for p in arrow.head)}" fill="{colour}"/>',
            "</g>",
        ]

    def _box(self, box: Box) -> None:
        style = style_of(box.kind)
        tip = box.id if box.kind in ("start", "end") else f"{box.id}: {box.detail}"
        if box.description:
            tip += f"\n{box.description}"
        self.lines += [
            f'<g class="node kind-{escape(box.kind)}" data-node={quoteattr(box.id)} '
            f"data-kind={quoteattr(box.kind)}>",
            f"<title>{escape(tip)}</title>",
        ]
        corners = _outline(box)
        paint = f'fill="{style.fill}" stroke="{style.stroke}" stroke-width="1.5"'
        if corners is not None:
            self.lines.append(f'<polygon points="{" ".join(map(_point, corners))}" {paint}/>')
        else:
            radius = _number(_radius(box))
            self.lines.append(
                f'<rect x="{_number(box.left)}" y="{_number(box.top)}" '
                f'width="{_number(box.width)}" height="{_number(box.height)}" rx="{radius}" '
                f"{paint}/>"
            )
        if box.kind in ("start", "end"):
            self._text(box.x, box.y, box.id.lower(), "#ffffff", ID_SIZE, bold=True)
        else:
            self._text(box.x, box.y - 8, box.id, TEXT, ID_SIZE, bold=True, role="id")
            self._text(box.x, box.y + 10, box.detail, MUTED, DETAIL_SIZE, role="kind")
        self.lines.append("</g>")

    def _label(self, arrow: Arrow) -> None:
        if not arrow.label or arrow.label_at is None:
            return
        lines = arrow.label.split("\n")
        width = label_width(arrow.label)
        height = len(lines) * LABEL_LINE + 4
        y = arrow.label_at[1]
        left = arrow.label_left
        self.lines.append(
            f'<g class="edge-label" data-source={quoteattr(arrow.source)} '
            f"data-target={quoteattr(arrow.target)}>"
        )
        self.lines.append(
            f'<rect x="{_number(left)}" y="{_number(y - height / 2)}" width="{_number(width)}" '
            f'height="{_number(height)}" rx="3" fill="#ffffff" fill-opacity="0.92"/>'
        )
        first = y - (len(lines) - 1) * LABEL_LINE / 2
        for index, line in enumerate(lines):
            self._text(left + width / 2, first + index * LABEL_LINE, line, CONDITIONAL, LABEL_SIZE)
        self.lines.append("</g>")

    def _text(
        self, x: float, y: float, text: str, colour: str, size: float, *, bold: bool = False,
        role: str | None = None,
    ) -> None:  # fmt: skip
        weight = ' font-weight="600"' if bold else ""
        css = f' class="{role}"' if role else ""
        self.lines.append(
            f'<text{css} x="{_number(x)}" y="{_number(y)}" font-size="{_number(size)}"{weight} '
            f'fill="{colour}" text-anchor="middle" dominant-baseline="central">{escape(text)}'
            "</text>"
        )


# -- PNG ---------------------------------------------------------------------------------------


def _png(layout: Layout) -> bytes:
    """Draw the layout with matplotlib's Agg canvas (no display, no pyplot state)."""
    # lazy: matplotlib loads only when a PNG is drawn (SVG and `stepladder --help` skip it)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # lazy: as above

    dpi = 72.0 * PNG_SCALE  # one layout pixel is one point: font sizes carry over as they are
    figure = Figure(figsize=(layout.width / 72.0, layout.height / 72.0), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(0, layout.width)
    axes.set_ylim(layout.height, 0)
    axes.set_axis_off()
    for arrow in layout.arrows:
        _draw_arrow(axes, arrow)
    for box in layout.boxes:
        _draw_box(axes, box)
    for arrow in layout.arrows:
        _draw_label(axes, arrow)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="#ffffff")
    return buffer.getvalue()


def _draw_arrow(axes: Any, arrow: Arrow) -> None:
    from matplotlib.patches import PathPatch, Polygon  # lazy: matplotlib for PNGs only
    from matplotlib.path import Path as CurvePath  # lazy: matplotlib for PNGs only

    vertices = [arrow.start]
    codes = [CurvePath.MOVETO]
    for c1, c2, end in arrow.segments:
        vertices += [c1, c2, end]
        codes += [CurvePath.CURVE4] * 3
    colour = CONDITIONAL if arrow.kind == "conditional" else EDGE
    style = (0, (5, 3)) if arrow.kind == "conditional" else "solid"
    axes.add_patch(
        PathPatch(CurvePath(vertices, codes), fill=False, edgecolor=colour, linewidth=1.5,
                  linestyle=style, capstyle="butt")
    )  # fmt: skip
    axes.add_patch(Polygon(list(arrow.head), closed=True, facecolor=colour, edgecolor="none"))


def _draw_box(axes: Any, box: Box) -> None:
    from matplotlib.patches import FancyBboxPatch, Polygon  # lazy: matplotlib for PNGs only

    style = style_of(box.kind)
    corners = _outline(box)
    paint: dict[str, Any] = {"facecolor": style.fill, "edgecolor": style.stroke, "linewidth": 1.5}
    if corners is not None:
        axes.add_patch(Polygon(corners, closed=True, **paint))
    else:
        radius = _radius(box)
        axes.add_patch(
            FancyBboxPatch(
                (box.left + radius, box.top + radius),
                box.width - 2 * radius, box.height - 2 * radius,
                boxstyle=f"round,pad={radius}" if radius else "square,pad=0", **paint,
            )
        )  # fmt: skip
    if box.kind in ("start", "end"):
        _draw_text(axes, box.x, box.y, box.id.lower(), "#ffffff", ID_SIZE, bold=True)
        return
    _draw_text(axes, box.x, box.y - 8, box.id, TEXT, ID_SIZE, bold=True)
    _draw_text(axes, box.x, box.y + 10, box.detail, MUTED, DETAIL_SIZE)


def _draw_label(axes: Any, arrow: Arrow) -> None:
    from matplotlib.patches import FancyBboxPatch  # lazy: matplotlib for PNGs only

    if not arrow.label or arrow.label_at is None:
        return
    lines = arrow.label.split("\n")
    width = label_width(arrow.label)
    height = len(lines) * LABEL_LINE + 4
    y = arrow.label_at[1]
    left = arrow.label_left
    axes.add_patch(
        FancyBboxPatch((left + 3, y - height / 2 + 3), width - 6, height - 6,
                       boxstyle="round,pad=3", facecolor="#ffffff", edgecolor="none", alpha=0.92)
    )  # fmt: skip
    first = y - (len(lines) - 1) * LABEL_LINE / 2
    for index, line in enumerate(lines):
        _draw_text(axes, left + width / 2, first + index * LABEL_LINE, line, CONDITIONAL,
                   LABEL_SIZE)  # fmt: skip


def _draw_text(
    axes: Any, x: float, y: float, text: str, colour: str, size: float, *, bold: bool = False
) -> None:
    axes.text(
        x, y, text, color=colour, fontsize=size * 0.92, fontweight="bold" if bold else "normal",
        ha="center", va="center_baseline", family="DejaVu Sans",
    )  # fmt: skip
