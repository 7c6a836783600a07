"""A drift report as one self-contained HTML page, with its plots as inline PNGs.

The page has the eval reports' style and policy: it loads nothing from anywhere and runs no
script (inline CSS, images as `data:` URLs, a Content-Security-Policy that forbids any fetch),
and every piece of run data is escaped before it enters the page. Plots are drawn with
matplotlib's Agg backend.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

import numpy as np

from stepladder.evalsets import html_report
from stepladder.monitor.drift import DriftReport
from stepladder.monitor.drift_sources import window
from stepladder.monitor.drift_stats import format_p

__all__ = ["drift_html"]

EVAL_COLOUR, NEAR_COLOUR, FAR_COLOUR = "#8c959f", "#0969da", "#cf222e"
CLUSTER_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#bcbd22",
                   "#17becf")  # fmt: skip
STYLE = (
    html_report.STYLE
    + """
.verdict { font-size: 15px; font-weight: 600; margin: 6px 0; }
.verdict.yes { color: var(--error); } .verdict.no { color: #1a7f37; }
img { max-width: 100%; height: auto; }
p.caption { color: var(--muted); margin: 4px 0 0; }
td.flag { color: var(--error); font-weight: 600; }
"""
)


def drift_html(report: DriftReport) -> str:
    """The drift report as one self-contained HTML page (no external resources)."""
    title = f"drift of {report.flow}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html_report.POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            _header(report),
            "<main>",
            _section("Inputs, projected (PCA of the embeddings)", _image(_map_png(report))),
            _section("Distance to the nearest eval case", _distances(report)),
            _section("Shift: energy distance against its permutation null", _shift(report)),
            _section("Rates: eval runs against production", _rates(report)),
            _section("Clusters of inputs far from every eval case", _clusters(report), wide=True),
            "</main></body></html>",
        ]
    )


def _header(report: DriftReport) -> str:
    options = report.options
    stats = [
        ("flow", report.flow),
        ("eval sets", ", ".join(report.eval_sets)),
        ("eval cases", str(report.eval_cases)),
        ("production inputs", str(report.production_runs)),
        ("window", window(options.since, options.until)),
        ("alpha", f"{options.alpha:g}"),
        ("created", f"{report.created:%Y-%m-%d %H:%M} UTC"),
    ]
    shown = "".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in stats)
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in report.notes)
    kind = "yes" if report.drifted else "no"
    return (
        f"<header><h1>Drift of <code>{escape(report.flow)}</code></h1>"
        f'<p class="verdict {kind}">{escape(report.verdict())}</p>'
        f'<div class="stats">{shown}</div>{notes}</header>'
    )


def _section(title: str, body: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<section{cls}><h2>{escape(title)}</h2>{body}</section>"


def _image(png: bytes, alt: str = "plot") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _pyplot() -> Any:
    # Lazy: matplotlib is slow to import and only the HTML report draws charts.
    import matplotlib

    matplotlib.use("Agg")
    # After `use("Agg")`, so charts draw without a display.
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _map_png(report: DriftReport) -> bytes:
    """Eval cases, near and far production inputs, each reported cluster in its colour."""
    plt = _pyplot()
    projection = report.projection
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ev, prod, groups = projection.eval_xy, projection.production_xy, projection.groups
    ax.scatter(ev[:, 0], ev[:, 1], s=14, c=EVAL_COLOUR, alpha=0.6, label="eval cases")
    near = groups == -1
    ax.scatter(prod[near, 0], prod[near, 1], s=10, c=NEAR_COLOUR, alpha=0.5, label="production")
    named = len(CLUSTER_COLOURS)
    for index, cluster in enumerate(report.clusters[:named]):
        members = groups == index
        ax.scatter(prod[members, 0], prod[members, 1], s=24, c=CLUSTER_COLOURS[index],
                   marker="^", label=f"far cluster {index + 1} ({cluster.size})")  # fmt: skip
    rest = groups >= named
    if rest.any():
        ax.scatter(prod[rest, 0], prod[rest, 1], s=20, c="#57606a", marker="^",
                   label=f"far clusters {named + 1}+")  # fmt: skip
    scattered = groups == -2
    if scattered.any():
        ax.scatter(prod[scattered, 0], prod[scattered, 1], s=18, c="#1f2328", marker="x",
                   label="far, in no cluster")  # fmt: skip
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def _distances(report: DriftReport) -> str:
    """Histograms of eval cases' own and production inputs' nearest-eval distances."""
    plt = _pyplot()
    novelty = report.novelty
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    values = np.concatenate([novelty.reference_distances, novelty.distances])
    bins = np.linspace(0.0, max(float(values.max()), novelty.threshold) * 1.05 + 1e-9, 40)
    ax.hist(novelty.reference_distances, bins=bins, density=True, alpha=0.5, color=EVAL_COLOUR,
            label="eval case → nearest other eval case")  # fmt: skip
    ax.hist(novelty.distances, bins=bins, density=True, alpha=0.5, color=NEAR_COLOUR,
            label="production input → nearest eval case")  # fmt: skip
    label = f"far beyond {novelty.threshold:.3f} ({novelty.quantile:.0%} of eval)"
    ax.axvline(novelty.threshold, color=FAR_COLOUR, linestyle="--", label=label)
    ax.set_xlabel("cosine distance")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    caption = f"{report.far_summary()}."
    return _image(_png(fig)) + f'<p class="caption">{escape(caption)}</p>'


def _shift(report: DriftReport) -> str:
    """The permutation null of the energy distance, and the observed value."""
    plt = _pyplot()
    shift = report.shift
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.hist(shift.null, bins=40, color=EVAL_COLOUR, alpha=0.7,
            label=f"{shift.permutations} permutations")  # fmt: skip
    ax.axvline(shift.statistic, color=FAR_COLOUR, label="observed")
    ax.set_xlabel("energy distance")
    ax.set_ylabel("permutations")
    ax.legend(fontsize=8)
    caption = (
        f"{report.shift_summary()}; {shift.reference_n} eval and {shift.sample_n} production "
        "inputs compared."
    )
    return _image(_png(fig)) + f'<p class="caption">{escape(caption)}</p>'


def _rates(report: DriftReport) -> str:
    changes = report.rates.changes
    if not changes:
        return f'<p class="empty">{escape(report.rates.note)}.</p>'
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.6 * len(changes)))
    rows = np.arange(len(changes))
    ax.barh(rows - 0.18, [c.reference for c in changes], height=0.36, color=EVAL_COLOUR,
            label="eval runs")  # fmt: skip
    ax.barh(rows + 0.18, [c.production for c in changes], height=0.36, color=NEAR_COLOUR,
            label="production")  # fmt: skip
    ax.set_yticks(rows, [c.name for c in changes])
    ax.invert_yaxis()
    largest = max(max(c.reference, c.production) for c in changes)
    scores = any(not c.is_rate for c in changes)
    ax.set_xlim(0, 1 if scores else max(0.05, 1.25 * largest))
    ax.legend(fontsize=8, loc="lower right")
    table = "".join(
        f"<tr><td>{escape(c.name)}</td><td class='num'>{_value(c.reference, c.is_rate)}</td>"
        f"<td class='num'>{_value(c.production, c.is_rate)}</td>"
        f"<td class='num'>{c.reference_n}/{c.production_n}</td>"
        f"<td class='num{' flag' if c.flagged else ''}'>{format_p(c.p_value)}</td></tr>"
        for c in changes
    )
    head = "<tr><th>measure</th><th>eval runs</th><th>production</th><th>n</th><th>p</th></tr>"
    return _image(_png(fig)) + f"<table>{head}{table}</table>"


def _value(value: float, is_rate: bool) -> str:
    return f"{value:.1%}" if is_rate else f"{value:.3f}"


def _clusters(report: DriftReport) -> str:
    if not report.clusters:
        far = report.far_count
        text = "No production input is far from every eval case." if not far else (
            f"{far} far input(s), in no cluster of at least "
            f"{report.options.smallest_cluster(report.production_runs)} similar ones."
        )  # fmt: skip
        return f'<p class="empty">{escape(text)}</p>'
    rows = []
    for index, cluster in enumerate(report.clusters):
        examples = "<br>".join(escape(text) for text in cluster.examples)
        rows.append(
            f"<tr><td class='num'>{index + 1}</td><td class='num'>{cluster.size}</td>"
            f"<td class='num'>{cluster.share:.1%}</td><td>{examples}</td>"
            f"<td>{escape(cluster.nearest_eval)}</td>"
            f"<td class='num'>{cluster.distance:.3f}</td></tr>"
        )
    head = (
        "<tr><th>#</th><th>inputs</th><th>share</th><th>examples</th>"
        "<th>nearest eval case</th><th>median distance</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"
