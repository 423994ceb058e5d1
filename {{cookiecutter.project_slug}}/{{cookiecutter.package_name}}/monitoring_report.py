"""The monitoring report: one self-contained HTML page per run and endpoint (inline CSS and SVG).

Per feature the baseline's distribution against the window's (numbers over the baseline's
buckets, categories by share), its drift distance against the threshold, and every violation;
model quality when ground truth came, with the metrics of earlier runs when the caller gives
them (``history``: ``[{"end_time", "<metric>": value}]``, oldest first).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .evaluate import _STYLE

CATEGORIES_SHOWN = 8
_EXTRA_STYLE = """
.bad { color: #b42318; font-weight: 600; }
.ok { color: #067647; }
.feature { display: inline-block; margin: 0 1.5rem 1.5rem 0; vertical-align: top; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; }
"""
BASELINE_COLOUR, CURRENT_COLOUR = "#98a2b3", "#1f6feb"


def render(
    *,
    endpoint: str,
    start: str,
    end: str,
    baseline: dict,
    current: pd.DataFrame,
    distances: dict[str, float],
    thresholds: dict[str, float],
    violations: list[dict],
    quality: dict | None = None,
    quality_violations: list[dict] | None = None,
    history: list[dict] | None = None,
) -> str:
    features = {feature["name"]: feature for feature in baseline["features"]}
    flagged = {v["feature_name"] for v in violations}
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{features[name]['inferred_type']}</td>"
        f"<td>{distances[name]:.4f}</td><td>{thresholds.get(name, float('nan')):g}</td>"
        f'<td class="{"bad" if name in flagged else "ok"}">'
        f"{'violated' if name in flagged else 'ok'}</td></tr>"
        for name in sorted(distances, key=lambda n: -distances[n])
    )
    listed = "".join(
        f"<tr><th>{html.escape(v['feature_name'])}</th><td>{v['constraint_check_type']}</td>"
        f'<td style="text-align:left">{html.escape(v["description"])}</td></tr>'
        for v in violations
    )
    charts = "".join(
        _feature_chart(name, features[name], current[name], distances.get(name))
        for name in features
        if name in current.columns
    )
    legend = (
        f'<p class="legend"><span style="background:{BASELINE_COLOUR}"></span>training baseline'
        f'<span style="background:{CURRENT_COLOUR}"></span>this window</p>'
    )
    verdict = (
        f'<p class="bad">{len(violations)} violations</p>'
        if violations
        else '<p class="ok">No data-quality violation.</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring: {html.escape(endpoint)}</title>
<style>{_STYLE}{_EXTRA_STYLE}</style></head><body>
<h1>Monitoring: {html.escape(endpoint)}</h1>
<p>{len(current)} captured rows from {html.escape(start)} to {html.escape(end)}.</p>
{verdict}
{_table("Violations", ("feature", "check", "description"), listed) if violations else ""}
{_table("Drift", ("feature", "type", "distance (L∞)", "threshold", ""), rows)}
{_quality_section(quality, quality_violations or [], history or [])}
<h2>Distributions</h2>{legend}
{charts}
</body></html>
"""


def _table(title: str, headings: tuple[str, ...], rows: str) -> str:
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    return f"<h2>{title}</h2><table><thead><tr>{head}</tr></thead>{rows}</table>"


def _feature_chart(name: str, feature: dict, column: pd.Series, distance: float | None) -> str:
    """Shares of all the values in each bucket or category: what falls outside the baseline's
    range or categories is in no bar (the note counts it), so the bars show that shift too."""
    if "numerical_statistics" in feature:
        buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
        edges = np.array([b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]])
        base = np.array([b["count"] for b in buckets], dtype=float)
        base_total = base.sum()
        values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype="float64")
        within = values[(values >= edges[0]) & (values <= edges[-1])]
        index = np.clip(np.searchsorted(edges, within, side="right") - 1, 0, len(base) - 1)
        now, now_total = np.bincount(index, minlength=len(base)).astype(float), len(values)
        below, above = int((values < edges[0]).sum()), int((values > edges[-1]).sum())
        labels = [f"{edge:.3g}" for edge in edges[:-1]]
        note = f"{below} below and {above} above the baseline's range" if below or above else ""
    else:
        categories = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
        shown = [c["value"] for c in categories[:CATEGORIES_SHOWN]]
        base = np.array([c["count"] for c in categories[:CATEGORIES_SHOWN]], dtype=float)
        base_total = sum(c["count"] for c in categories)
        counts = column.dropna().astype(str).value_counts()
        now, now_total = np.array([counts.get(v, 0) for v in shown], dtype=float), counts.sum()
        new = int(counts[~counts.index.isin([c["value"] for c in categories])].sum())
        labels, note = shown, f"{new} values the baseline never saw" if new else ""
    base = base / base_total if base_total else base
    now = now / now_total if now_total else now
    caption = html.escape(name) + (f" (distance {distance:.3f})" if distance is not None else "")
    return (
        f'<figure class="feature"><figcaption>{caption}</figcaption>{_bars(labels, base, now)}'
        f"{'<div>' + html.escape(note) + '</div>' if note else ''}</figure>"
    )


def _bars(labels: list[str], base: np.ndarray, now: np.ndarray) -> str:
    """Paired bars (baseline, window) of shares, one pair a bucket or category."""
    width, height, bottom = max(200, 36 * len(labels)), 120, 30
    top = max(float(base.max(initial=0)), float(now.max(initial=0))) or 1.0
    step = width / max(len(labels), 1)
    parts = []
    for i, label in enumerate(labels):
        for j, (share, colour) in enumerate(((base[i], BASELINE_COLOUR), (now[i], CURRENT_COLOUR))):
            bar = share / top * height
            parts.append(
                f'<rect x="{i * step + 3 + j * (step - 6) / 2:.1f}" y="{height - bar:.1f}" '
                f'width="{(step - 6) / 2:.1f}" height="{bar:.1f}" fill="{colour}">'
                f"<title>{html.escape(str(label))}: {share:.1%}</title></rect>"
            )
        parts.append(
            f'<text x="{i * step + step / 2:.1f}" y="{height + 14}" text-anchor="middle">'
            f"{html.escape(str(label)[:8])}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom}" '
        f'role="img">{"".join(parts)}</svg>'
    )


def _quality_section(quality: dict | None, violations: list[dict], history: list[dict]) -> str:
    if not quality:
        return ""
    [(section, values)] = [(k, v) for k, v in quality.items() if k.endswith("_metrics")]
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{metric['value']:.4f}</td></tr>"
        for name, metric in values.items()
        if isinstance(metric, dict) and "value" in metric and "constant" not in name
    )
    broken = "".join(f'<li class="bad">{html.escape(v["description"])}</li>' for v in violations)
    over_time = ""
    if history:
        names = [n for n in history[-1] if n != "end_time"]
        over_time = (
            "<h3>Over time</h3><table><thead><tr><th>window end</th>"
            + "".join(f"<th>{html.escape(n)}</th>" for n in names)
            + "</tr></thead>"
            + "".join(
                f"<tr><th>{html.escape(entry['end_time'])}</th>"
                + "".join(f"<td>{entry.get(n, float('nan')):.4f}</td>" for n in names)
                + "</tr>"
                for entry in history
            )
            + "</table>"
        )
    return (
        f"<h2>Model quality</h2><p>{quality['dataset']['item_count']} rows with ground truth, "
        f"{section.replace('_', ' ')}.</p>{'<ul>' + broken + '</ul>' if broken else ''}"
        f"<table><thead><tr><th>metric</th><th>value</th></tr></thead>{rows}</table>{over_time}"
    )
