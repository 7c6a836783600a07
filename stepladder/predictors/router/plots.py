"""Pictures of routing: cost/quality curves of calibrations and PGR curves.

A calibration is drawn as a PNG and as a self-contained HTML page with inline SVG.

PNGs are drawn with matplotlib's Agg backend (no display needed). The HTML page loads
nothing from anywhere and runs no script, like the eval reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from stepladder.predictors.router.manifest import CalibrationRecord

__all__ = ["calibration_html", "calibration_png", "pgr_png"]

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
W, H, PAD = 640, 360, 48


def _pyplot() -> Any:
    import matplotlib  # lazy: heavy, and only `router calibrate` draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend

    return plt


def tier_points(record: CalibrationRecord) -> list[tuple[str, float, float]]:
    """Each tier alone: (tier, price per call, quality / best tier's), if the record has them."""
    best = record.tier_quality.get(record.best_tier) or 1.0
    return [
        (tier, record.prices[tier], quality / best)
        for tier, quality in record.tier_quality.items()
        if tier in record.prices
    ]


def calibration_png(record: CalibrationRecord, path: Path, title: str) -> Path:
    """The quality ratio (and its lower bound) against cost per call, every tier as a point."""
    plt = _pyplot()
    cost = [p.cost_usd_per_call for p in record.curve]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(cost, [p.quality_ratio for p in record.curve], label="quality / best tier")
    ax.plot(cost, [p.ratio_lower_bound for p in record.curve], "--", label="95% lower bound")
    ax.axhline(record.target_quality, color="grey", linewidth=0.8, label="target")
    chosen = record.chosen
    ax.plot([chosen.cost_usd_per_call], [chosen.ratio_lower_bound], "o", color="C3", label="chosen")
    tiers = tier_points(record)
    if tiers:
        ax.plot([t[1] for t in tiers], [t[2] for t in tiers], "s", color="C2", label="each tier")
        for tier, price, ratio in tiers:
            ax.annotate(tier, (price, ratio), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("cost per call (USD)")
    ax.set_ylabel("quality ratio")
    ax.set_title(title)
    ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def pgr_png(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]], path: Path
) -> Path:
    """PGR against the share of strong calls: one panel per data set, one line per router."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels.items(), strict=True):
        for label, (shares, pgr) in lines.items():
            ax.plot([100 * s for s in shares], pgr, marker=".", label=label)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_title(title)
        ax.set_xlabel("strong-model calls (%)")
        ax.set_ylabel("PGR")
        ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration_html(record: CalibrationRecord, title: str) -> str:
    """The calibration as one self-contained HTML page (inline SVG, no external resources)."""
    chosen = record.chosen
    facts = [
        ("target (lower bound of quality / best tier)", f"{record.target_quality:g}"),
        ("met", "yes" if record.met else "no: routes everything to the last tier"),
        ("thresholds", ", ".join(f"{t} {v:.4f}" for t, v in record.thresholds.items())),
        ("shares", ", ".join(f"{t} {s:.1%}" for t, s in chosen.shares.items())),
        ("quality", f"{chosen.quality:.4f} (ratio {chosen.quality_ratio:.4f}, "
         f"lower bound {chosen.ratio_lower_bound:.4f})"),
        ("cost per call", f"${chosen.cost_usd_per_call:.6f}"),
        ("prices per call", ", ".join(f"{t} ${p:g}" for t, p in record.prices.items())),
        ("held-out cases", str(record.held_out_examples)),
        ("bound covers", "all future traffic" if record.horizon is None
         else f"each batch of {record.horizon} requests"),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
            f"<title>{escape(title)}</title>",
            "<style>body{font:13px system-ui,sans-serif;margin:20px;color:#1f2328}"
            "th{text-align:left;color:#57606a;font-weight:normal;padding-right:12px}"
            "svg{font:11px system-ui,sans-serif}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            f"<table>{rows}</table>",
            _svg(record),
            "</body></html>",
        ]
    )


def _svg(record: CalibrationRecord) -> str:
    tiers = tier_points(record)
    costs = [p.cost_usd_per_call for p in record.curve] + [t[1] for t in tiers]
    values = [v for p in record.curve for v in (p.quality_ratio, p.ratio_lower_bound)]
    values += [t[2] for t in tiers]
    x0, x1 = min(costs), max(costs) if max(costs) > min(costs) else min(costs) + 1e-9
    y0, y1 = min([*values, record.target_quality]) - 0.01, max([*values, 1.0]) + 0.01

    def x(v: float) -> float:
        return PAD + (v - x0) / (x1 - x0) * (W - 2 * PAD)

    def y(v: float) -> float:
        return H - PAD - (v - y0) / (y1 - y0) * (H - 2 * PAD)

    def line(attr: str, colour: str, dash: str = "") -> str:
        pts = " ".join(
            f"{x(p.cost_usd_per_call):.1f},{y(getattr(p, attr)):.1f}" for p in record.curve
        )
        return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" {dash} points="{pts}"/>'

    c = record.chosen
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#d0d7de"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#d0d7de"/>',
        f'<line x1="{PAD}" x2="{W - PAD}" y1="{y(record.target_quality):.1f}" '
        f'y2="{y(record.target_quality):.1f}" stroke="#6e7781" stroke-dasharray="2 3"/>',
        line("quality_ratio", "#0969da"),
        line("ratio_lower_bound", "#8250df", 'stroke-dasharray="5 3"'),
        f'<circle cx="{x(c.cost_usd_per_call):.1f}" cy="{y(c.ratio_lower_bound):.1f}" r="5" '
        'fill="#cf222e"><title>chosen</title></circle>',
        *(
            f'<rect x="{x(cost) - 4:.1f}" y="{y(ratio) - 4:.1f}" width="8" height="8" '
            f'fill="#1a7f37"><title>{escape(tier)} alone</title></rect>'
            f'<text x="{x(cost) + 6:.1f}" y="{y(ratio) - 6:.1f}">{escape(tier)}</text>'
            for tier, cost, ratio in tiers
        ),
        f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">cost per call (USD): '
        f"{x0:.6f} to {x1:.6f}</text>",
        f'<text x="12" y="{PAD - 14}">quality / best tier ({y0:.3f} to {y1:.3f}); blue: '
        "estimate, purple dashed: 95% lower bound, grey: target, red: chosen, green: "
        "each tier alone</text>",
    ]
    return (
        f'<svg role="img" aria-label="cost and quality" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}">{"".join(parts)}</svg>'
    )
