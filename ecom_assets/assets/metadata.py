"""Small helpers that turn frames into readable Dagster metadata."""

from __future__ import annotations

import pandas as pd
from dagster import MetadataValue


def preview(frame: pd.DataFrame, rows: int = 5, max_chars: int = 60) -> MetadataValue:
    head = frame.head(rows).copy()
    for col in head.columns:
        if head[col].dtype == object:
            head[col] = head[col].astype(str).str.slice(0, max_chars)
    return MetadataValue.md(head.to_markdown(index=False) if len(head) else "_(no rows)_")


def counts_table(counts: pd.Series, key: str, value: str = "rows") -> MetadataValue:
    if counts.empty:
        return MetadataValue.md("_(none)_")
    return MetadataValue.md(counts.rename_axis(key).reset_index(name=value).to_markdown(index=False))



_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def line_chart(series: dict[str, list[float]], labels: list[str], title: str, y_label: str = "",
               width: int = 560, height: int = 260) -> MetadataValue:
    """Lines over shared x labels as an SVG image inside markdown (the UI renders it in the
    materialisation's metadata; no plotting library needed). NaN points are left out."""
    import base64
    import html
    import math

    values = [v for ys in series.values() for v in ys if v is not None and not math.isnan(v)]
    if not values or not labels:
        return MetadataValue.md(f"**{title}**: _(no points yet)_")
    low, high = min(values + [0.0]), max(values)
    high = high if high > low else low + 1.0
    left, right, top, bottom = 58, 130, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>']
    for frac in (0.0, 0.5, 1.0):
        v = low + frac * (high - low)
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#ddd"/>')
    if low < 0 < high:
        parts.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}" stroke="#999" '
                     'stroke-dasharray="3,3"/>')
    step = max(1, math.ceil(len(labels) / 6))
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{html.escape(str(labels[i]))}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" transform="rotate(-90 12 {top + plot_h / 2:.1f})" '
                     f'text-anchor="middle">{html.escape(y_label)}</text>')
    for n, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(ys) if v is not None and not math.isnan(v))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{top + 14 * n + 10}" fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    encoded = base64.b64encode("".join(parts).encode()).decode()
    return MetadataValue.md(f"![{html.escape(title)}](data:image/svg+xml;base64,{encoded})")


def bar_chart(values: dict[str, float], title: str, width: int = 560, bar_height: int = 18) -> MetadataValue:
    """Horizontal bars, one per label, as an SVG image inside markdown (as line_chart)."""
    import base64
    import html
    import math

    shown = {k: float(v) for k, v in values.items() if v is not None and not math.isnan(float(v))}
    if not shown:
        return MetadataValue.md(f"**{title}**: _(no values)_")
    left, right, top = 150, 70, 28
    high = max(max(shown.values()), 1e-12)
    height = top + bar_height * len(shown) + 12
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="8" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(shown.items()):
        y = top + i * bar_height
        length = max(1.0, (width - left - right) * max(value, 0.0) / high)
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{html.escape(str(label))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{bar_height - 5}" fill="{_COLOURS[0]}"/>')
        parts.append(f'<text x="{left + length + 4:.1f}" y="{y + 12}">{value:.4g}</text>')
    parts.append("</svg>")
    encoded = base64.b64encode("".join(parts).encode()).decode()
    return MetadataValue.md(f"![{html.escape(title)}](data:image/svg+xml;base64,{encoded})")
