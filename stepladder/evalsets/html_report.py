"""An eval run as one self-contained HTML page: quality, tags, cost, latency and worst cases.

Besides the plots, it has the label metrics' per-label tables and confusion matrices, each
metric apart for present and absent expected values, and for each worst case its input,
expected values and output.

The page loads nothing from anywhere and runs no script (inline CSS, inline SVG plots drawn
here, a Content-Security-Policy that forbids any fetch), so it can be attached to a pull request
or a bug report. Every piece of run data is escaped before it enters the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from stepladder.evalsets.label_report import LabelReport
from stepladder.evalsets.report import (
    EvalSummary,
    MetricSummary,
    ScoreInterval,
    format_interval,
    short_json,
)
from stepladder.evalsets.results import EvalRunRecord
from stepladder.tracing.render import format_cost

__all__ = ["report_html"]

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PALETTE = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#1b7c83", "#6e7781")
LABEL_W, PLOT_W, ROW_H = 130, 320, 26
VALUE_CHARS = 2000
"""Longest value shown in a worst case's input, expected and output cells."""

STYLE = """
:root { --line: #d0d7de; --muted: #57606a; --accent: #0969da; --error: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1f2328; background: #fff; }
header { padding: 14px 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 17px; margin: 0 0 6px; }
h1 code { font-size: 13px; color: var(--muted); font-weight: normal; }
h2 { font-size: 14px; margin: 0 0 8px; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); }
.stats b { color: #1f2328; }
.note { margin: 8px 0 0; padding: 6px 10px; border-radius: 4px; background: #fff8c5;
  border: 1px solid #d4a72c; }
main { padding: 8px 20px 24px; display: grid; gap: 18px;
  grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
section { min-width: 0; }
section.wide { grid-column: 1 / -1; }
svg { display: block; max-width: 100%; height: auto; font: 11px system-ui, sans-serif; }
svg .axis { stroke: var(--line); } svg .label { fill: #1f2328; } svg .muted { fill: var(--muted); }
svg .whisker { stroke: #1f2328; stroke-width: 1.5; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; color: var(--muted); margin-top: 4px; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px;
  margin-right: 4px; border-radius: 2px; background: var(--c); vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; color: var(--muted); font-weight: normal;
  border-bottom: 1px solid var(--line); padding: 3px 10px 3px 0; }
td { padding: 3px 10px 3px 0; border-bottom: 1px solid #f3f4f6; vertical-align: top;
  word-break: break-word; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.failed { color: var(--error); font-weight: 600; }
code { font-size: 12px; }
.empty { color: var(--muted); }
dl.values { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 0 6px; }
dl.values dt { color: var(--muted); } dl.values dd { margin: 0; white-space: pre-wrap; }
td.hit { font-weight: 600; } td.miss { color: var(--error); } td.zero { color: #afb8c1; }
"""


def report_html(run: EvalRunRecord, summary: EvalSummary) -> str:
    """The run and its summary as one self-contained HTML page (no external resources)."""
    title = f"{summary.eval_name} {summary.run_id}"
    costs = [case.cost_usd for case in run.results]
    latencies = [case.latency_s for case in run.results]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            _header(summary),
            "<main>",
            _section("Quality per metric (mean, 95% CI)", _metric_plot(summary.metrics)),
            _section("Quality per tag", _tag_plot(summary)),
            *_presence_section(summary),
            *(_label_section(report) for report in summary.label_metrics),
            _section(
                "Cost per case", _histogram(costs, format_cost, "cost per case") + _pricing(summary)
            ),
            _section("Latency", _histogram(latencies, _seconds, "latency")),
            _section("Worst cases", _worst_table(summary), wide=True),
            "</main></body></html>",
        ]
    )


def _pricing(summary: EvalSummary) -> str:
    """How each self-hosted tier was priced (its machine-hour basis), one note per tier."""
    return "".join(
        f'<p class="note">cost of tier {escape(tier)}: {escape(basis)}</p>'
        for tier, basis in summary.pricing.items()
    )


def _section(title: str, body: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<section{cls}><h2>{escape(title)}</h2>{body}</section>"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _header(summary: EvalSummary) -> str:
    stats = [
        ("flow", summary.flow),
        ("started", summary.started),
        ("cases", f"{summary.cases} ({summary.ok} ok, {summary.failed} failed)"),
        ("cost", f"{format_cost(summary.cost_total_usd)} total"),
        ("latency p50/p95", f"{summary.latency_p50_s:.2f} s / {summary.latency_p95_s:.2f} s"),
        ("escalated", f"{summary.escalation_rate:.1%}"),
    ]
    if summary.split:
        stats.append(("split", summary.split))
    if summary.remote:
        stats.append(("on replicas", ", ".join(summary.remote)))
    for node in dict.fromkeys(share.node for share in summary.rungs):
        parts = [f"{s.rung} {s.share:.0%}" for s in summary.rungs if s.node == node]
        stats.append((f"{node} answered by", ", ".join(parts)))
    shown = "".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in stats)
    notes = []
    if summary.used_cache:
        notes.append(
            f"{summary.cached_cases} case(s) used cached model responses: their latency and "
            "cost are not those of live calls."
        )
    elif summary.cache_enabled:
        notes.append("The response cache was on, but no case used it.")
    if summary.failed:
        notes.append(f"{summary.failed} case(s) failed and score 0 on every metric.")
    note_html = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    return (
        f"<header><h1>{escape(summary.eval_name)} <code>{escape(summary.run_id)}</code></h1>"
        f'<div class="stats">{shown}</div>{note_html}</header>'
    )


def _svg(width: float, height: float, label: str, body: Sequence[str]) -> str:
    return (
        f'<svg class="plot" role="img" aria-label="{escape(label)}" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}">{"".join(body)}</svg>'
    )


def _fit(text: str, width: float, char_width: float = 6.5) -> str:
    """`text` cut with an ellipsis to about `width` pixels (its tooltip has it whole)."""
    room = max(int(width / char_width), 3)
    return text if len(text) <= room else text[: room - 1] + "…"


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "label") -> str:
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _scale_ticks(x0: float, width: float, top: float, bottom: float) -> list[str]:
    """Vertical grid lines and labels at 0, 0.25, ..., 1 of a horizontal score axis."""
    parts = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + share * width
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(_text(x, bottom + 12, f"{share:g}", anchor="middle", cls="muted"))
    return parts


def _clamp(value: float) -> float:
    """A score kept inside the plotted range [0, 1]."""
    return max(0.0, min(1.0, value))


def _metric_plot(metrics: Sequence[MetricSummary]) -> str:
    if not metrics:
        return '<p class="empty">No metrics were scored.</p>'
    height = len(metrics) * ROW_H + 24
    body = _scale_ticks(LABEL_W, PLOT_W, 0, height - 18)
    for row, metric in enumerate(metrics):
        body.extend(_metric_row(metric, row * ROW_H, PALETTE[row % len(PALETTE)]))
    return _svg(LABEL_W + PLOT_W + 170, height, "quality per metric", body)


def _metric_row(metric: MetricSummary, top: float, colour: str) -> list[str]:
    """A bar to the mean, a whisker over the interval and the numbers beside them."""
    mid = top + ROW_H / 2
    low, high = (LABEL_W + _clamp(v) * PLOT_W for v in (metric.low, metric.high))
    mean = _clamp(metric.mean)
    label = f"{metric.mean:.3f} {format_interval(metric.low, metric.high)} n={metric.n}"
    return [
        f"<g><title>{escape(metric.name)}: {escape(label)}</title>",
        _text(LABEL_W - 8, mid + 4, metric.name, anchor="end"),
        f'<rect x="{LABEL_W}" y="{top + 6}" width="{mean * PLOT_W:.1f}" '
        f'height="{ROW_H - 12}" fill="{colour}" opacity="0.35"/>',
        f'<line class="whisker" x1="{low:.1f}" y1="{mid}" x2="{high:.1f}" y2="{mid}"/>',
        *(
            f'<line class="whisker" x1="{x:.1f}" y1="{mid - 5}" x2="{x:.1f}" y2="{mid + 5}"/>'
            for x in (low, high)
        ),
        f'<circle cx="{LABEL_W + mean * PLOT_W:.1f}" cy="{mid}" r="3.5" fill="{colour}"/>',
        _text(LABEL_W + PLOT_W + 8, mid + 4, label, cls="muted"),
        "</g>",
    ]


def _tag_plot(summary: EvalSummary) -> str:
    """Grouped bars: one group per tag, one bar (with its CI whisker) per metric."""
    if not summary.tags or not summary.metrics:
        return '<p class="empty">No case has tags.</p>'
    bar_w, gap, plot_h, left = 14, 22, 160, 34
    group_w = len(summary.metrics) * bar_w + gap
    width = left + len(summary.tags) * group_w + 10
    body = []
    for share in (0.0, 0.5, 1.0):
        y = 10 + (1 - share) * plot_h
        body.append(f'<line class="axis" x1="{left}" y1="{y}" x2="{width}" y2="{y}"/>')
        body.append(_text(left - 4, y + 4, f"{share:g}", anchor="end", cls="muted"))
    for column, tag in enumerate(summary.tags):
        x0 = left + column * group_w + gap / 2
        for index, metric in enumerate(tag.metrics):
            body.extend(_tag_bar(tag.tag, metric, x0 + index * bar_w, bar_w, plot_h, index))
        label = _text(
            x0 + (group_w - gap) / 2, plot_h + 24, _fit(tag.tag, group_w), anchor="middle"
        )
        body.append(label.replace("</text>", f"<title>{escape(tag.tag)}</title></text>"))
        body.append(
            _text(x0 + (group_w - gap) / 2, plot_h + 37, f"n={tag.n}", anchor="middle", cls="muted")
        )
    legend = "".join(
        f'<span style="--c: {PALETTE[i % len(PALETTE)]}">{escape(m.name)}</span>'
        for i, m in enumerate(summary.metrics)
    )
    plot = _svg(width, plot_h + 44, "quality per tag", body)
    return f'{plot}<div class="legend">{legend}</div>'


def _tag_bar(
    tag: str, metric: MetricSummary, x: float, width: float, plot_h: float, index: int
) -> list[str]:
    if metric.n == 0:
        return []
    mean = _clamp(metric.mean)
    top = 10 + (1 - mean) * plot_h
    low, high = (10 + (1 - _clamp(v)) * plot_h for v in (metric.high, metric.low))
    mid = x + width / 2
    label = f"{metric.mean:.3f} {format_interval(metric.low, metric.high)} n={metric.n}"
    return [
        f"<g><title>{escape(tag)} / {escape(metric.name)}: {escape(label)}</title>",
        f'<rect x="{x + 1:.1f}" y="{top:.1f}" width="{width - 2}" '
        f'height="{mean * plot_h:.1f}" fill="{PALETTE[index % len(PALETTE)]}"/>',
        f'<line class="whisker" x1="{mid:.1f}" y1="{low:.1f}" x2="{mid:.1f}" y2="{high:.1f}"/>',
        "</g>",
    ]


def _histogram(values: Sequence[float], fmt: Callable[[float], str], label: str) -> str:
    """Counts of `values` in up to 12 equal bins, labelled at the ends and the middle."""
    if not values:
        return '<p class="empty">No cases.</p>'
    lowest, highest = min(values), max(values)
    bins = min(12, len(values))
    if highest <= lowest:  # all equal: one bar
        bins, highest = 1, lowest + (abs(lowest) * 0.01 or 1e-6)
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins, (lowest, highest))
    left, plot_w, plot_h = 34, 520, 140
    bar_w = plot_w / bins
    tallest = max(1, int(counts.max()))
    body = [
        f'<line class="axis" x1="{left}" y1="{plot_h + 10}" x2="{left + plot_w}" '
        f'y2="{plot_h + 10}"/>',
        _text(left - 4, 14, str(tallest), anchor="end", cls="muted"),
        _text(left - 4, plot_h + 10, "0", anchor="end", cls="muted"),
    ]
    for index, count in enumerate(counts.tolist()):
        height = count / tallest * plot_h
        span = f"{fmt(float(edges[index]))} to {fmt(float(edges[index + 1]))}: {count} case(s)"
        body.append(
            f'<rect x="{left + index * bar_w + 1:.1f}" y="{plot_h + 10 - height:.1f}" '
            f'width="{bar_w - 2:.1f}" height="{height:.1f}" fill="#0969da">'
            f"<title>{escape(span)}</title></rect>"
        )
    for share, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        value = float(lowest + share * (highest - lowest))
        body.append(_text(left + share * plot_w, plot_h + 24, fmt(value), anchor=anchor))
    return _svg(left + plot_w + 10, plot_h + 30, label, body)


def _worst_table(summary: EvalSummary) -> str:
    if not summary.worst:
        return '<p class="empty">Every case scored perfectly.</p>'
    names = [metric.name for metric in summary.metrics]
    columns = ["case", "mean", *names, "input", "expected", "output", "error", "trace"]
    head = "".join(f"<th>{escape(name)}</th>" for name in columns)
    rows = []
    for case in summary.worst:
        mean = "failed" if not case.ok else "-"
        if case.ok and case.mean_score is not None:
            mean = f"{case.mean_score:.3f}"
        cells = "".join(
            f'<td class="num">{case.scores[n]:.3f}</td>' if n in case.scores else "<td>-</td>"
            for n in names
        )
        command = f"<code>{escape(case.trace_command)}</code>" if case.trace_command else "-"
        why = "".join(f"<br>{escape(name)}: {escape(d)}" for name, d in case.details.items())
        rows.append(
            f"<tr><td>{escape(case.case_id)}</td>"
            f'<td class="num{"" if case.ok else " failed"}">{mean}</td>{cells}'
            f"<td>{_values(case.inputs)}</td><td>{_values(case.expected)}</td>"
            f"<td>{_values(case.outputs)}</td>"
            f"<td>{escape(case.error or '')}{why}</td><td>{command}</td></tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _values(values: Mapping[str, Any]) -> str:
    """Named JSON values as a definition list (each value cut to `VALUE_CHARS`)."""
    if not values:
        return "-"
    items = "".join(
        f"<dt>{escape(key)}</dt><dd><code>{escape(short_json(value, VALUE_CHARS))}</code></dd>"
        for key, value in values.items()
    )
    return f'<dl class="values">{items}</dl>'


def _presence_section(summary: EvalSummary) -> list[str]:
    """Each metric apart for cases expecting a value and cases expecting null, if any do."""
    if not any(m.absent is not None and m.absent.n for m in summary.metrics):
        return []
    head = "<th>metric</th><th>all</th><th>expected present</th><th>expected null</th>"
    rows = "".join(
        f"<tr><td>{escape(m.name)}</td>"
        f'<td class="num">{_part(ScoreInterval(mean=m.mean, low=m.low, high=m.high, n=m.n))}</td>'
        f'<td class="num">{_part(m.present)}</td><td class="num">{_part(m.absent)}</td></tr>'
        for m in summary.metrics
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    note = (
        '<p class="empty">"Expected null" cases pass when the output is null too (metric '
        "option <code>expected_null: match</code>; <code>skip</code> leaves them unscored).</p>"
    )
    return [_section("Expected values present and absent (mean, 95% CI, n)", table + note)]


def _part(interval: ScoreInterval | None) -> str:
    if interval is None or interval.n == 0:
        return "-"
    low_high = format_interval(interval.low, interval.high)
    return f"{interval.mean:.3f} {low_high} n={interval.n}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _label_section(report: LabelReport) -> str:
    """A label metric's per-label table and its confusion matrix."""
    head = "".join(
        f"<th>{name}</th>"
        for name in ("label", "precision", "recall", "F1", "expected", "predicted")
    )
    rows = "".join(
        f'<tr><td>{escape(row.label)}</td><td class="num">{_ratio(row.precision)}</td>'
        f'<td class="num">{_ratio(row.recall)}</td><td class="num">{row.f1:.3f}</td>'
        f'<td class="num">{row.support}</td><td class="num">{row.predicted}</td></tr>'
        for row in report.per_label
    )
    per_label = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    title = (
        f"{report.metric} per label: accuracy {report.accuracy:.3f}, "
        f"macro-F1 {report.macro_f1:.3f}, n={report.n}"
    )
    return _section(title, per_label + "<h2>Confusion matrix</h2>" + _confusion(report))


def _confusion(report: LabelReport) -> str:
    """Rows: expected labels; columns: predicted labels; hits bold, confusions red."""
    head = "<th>expected \\ predicted</th>" + "".join(
        f"<th>{escape(label)}</th>" for label in report.labels
    )
    rows = []
    for i, (label, counts) in enumerate(zip(report.labels, report.confusion, strict=True)):
        if not any(counts):  # a label only predicted, never expected
            continue
        cells = "".join(
            f'<td class="num {"hit" if i == j else "miss" if n else "zero"}">{n}</td>'
            for j, n in enumerate(counts)
        )
        rows.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")
    return (
        f'<table class="confusion"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
