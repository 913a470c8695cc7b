"""The drift report: report.json plus a self-contained report.html with embedded PNG plots."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from monitoring.accumulate import WindowSummary
from monitoring.capture import parse_s3_uri
from monitoring.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


DRIFT_COLOUR = "#c0392b"
BASELINE_COLOUR = "#7f8c8d"
WINDOW_COLOUR = "#2471a3"


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def confidence_plot(report: dict[str, Any], summary: WindowSummary) -> bytes:
    """Top: confidence over time (sampled records, per-minute mean, threshold line). Bottom:
    records per minute (a gap = capture stopped) and the per-minute share below threshold."""
    figure = _figure(10, 4.8)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    threshold = report["threshold"]
    if summary.timeline:
        minutes = sorted(summary.timeline)
        times: Any = [datetime.fromisoformat(m) for m in minutes]
        counts = np.array([summary.timeline[m][0] for m in minutes])
        means = np.array([summary.timeline[m][1] for m in minutes]) / counts
        lows = np.array([summary.timeline[m][2] for m in minutes]) / counts
        if summary.timeline_sample:
            sample_times: Any = [datetime.fromisoformat(t) for t, _ in summary.timeline_sample]
            top.scatter(
                sample_times,
                [c for _, c in summary.timeline_sample],
                s=6,
                alpha=0.3,
                color=WINDOW_COLOUR,
                label="records (sample)",
            )
        top.plot(times, means, color="#1b2631", linewidth=1.8, label="mean per minute")
        bottom.bar(times, counts, width=1 / 1440, color=BASELINE_COLOUR, label="records/min")
        share_axis = bottom.twinx()
        share_axis.plot(times, lows, color=DRIFT_COLOUR, linewidth=1.2, label="share below")
        share_axis.set_ylim(0, 1.05)
        share_axis.set_ylabel("below thr.", fontsize=8, color=DRIFT_COLOUR)
        figure.autofmt_xdate()
    else:
        top.text(
            0.5,
            0.5,
            "no timed predictions in this window",
            ha="center",
            va="center",
            transform=top.transAxes,
        )
    top.axhline(threshold, color="#d68910", linewidth=1.5, label=f"threshold {threshold:g}")
    top.set_ylim(0, 1.02)
    top.set_ylabel("confidence")
    rate = report.get("low_confidence_rate")
    top.set_title(
        "Prediction confidence over time"
        + (f"  (low-confidence rate {rate:.1%})" if rate is not None else "")
    )
    top.legend(loc="lower left", fontsize=8, ncols=3)
    top.grid(alpha=0.3)
    bottom.set_ylabel("records/min", fontsize=8)
    bottom.grid(alpha=0.3)
    return _png(figure)


def _numeric_panel(axis: Axes, edges: np.ndarray, base: np.ndarray, window: np.ndarray) -> None:
    """Histogram of baseline vs window over the baseline's bins, in feature units."""
    base_share = base / max(base.sum(), 1)
    window_share = window / max(window.sum(), 1)
    span = float(edges[-1] - edges[0]) if len(edges) > 1 else 0.0
    if span <= 1e-9 * max(1.0, abs(float(edges[0]))):
        labels = [f"< {edges[0]:g}", f"{edges[0]:g}", f"> {edges[0]:g}"]
        base_bars = [base_share[0], base_share[1:-1].sum(), base_share[-1]]
        window_bars = [window_share[0], window_share[1:-1].sum(), window_share[-1]]
        positions = np.arange(3)
        axis.bar(positions - 0.2, base_bars, 0.4, color=BASELINE_COLOUR, label="baseline")
        axis.bar(positions + 0.2, window_bars, 0.4, color=WINDOW_COLOUR, label="window")
        axis.set_xticks(positions, labels, fontsize=7)
        return
    # ~20 groups of equal baseline mass, plotted as densities; the open bins below/above the
    # baseline range get one extra group width on each side.
    share_below = (np.cumsum(base) - base) / max(base.sum(), 1)
    groups = np.minimum((share_below * 20).astype(int), 19)
    groups[0], groups[-1] = -1, 20  # the open-ended bins
    order = np.arange(-1, 21)
    low_edges = np.concatenate([[edges[0] - span * 0.05], edges])
    high_edges = np.concatenate([edges, [edges[-1] + span * 0.05]])
    lefts, rights, b_density, w_density = [], [], [], []
    for group in order:
        members = groups == group
        if not members.any():
            continue
        left, right = low_edges[members].min(), high_edges[members].max()
        width = max(right - left, span * 1e-3)
        lefts.append(left)
        rights.append(right)
        b_density.append(base_share[members].sum() / width)
        w_density.append(window_share[members].sum() / width)
    steps_x = np.array([*lefts, rights[-1]])
    axis.stairs(b_density, steps_x, fill=True, color=BASELINE_COLOUR, alpha=0.45, label="baseline")
    axis.stairs(w_density, steps_x, color=WINDOW_COLOUR, linewidth=1.6, label="window")
    axis.set_yticks([])


def features_plot(report: dict[str, Any], summary: WindowSummary) -> bytes:
    """One panel per feature: the window's histogram over the baseline's."""
    baseline = summary.baseline
    order = {name: index for index, name in enumerate(NUMERIC_FEATURES + CATEGORICAL_FEATURES)}
    names = sorted(
        report["features"],
        key=lambda n: (not report["features"][n].get("drift"), order.get(n, len(order)), n),
    )
    columns = 4
    rows = max(1, math.ceil(len(names) / columns))
    figure = _figure(13, 2.5 * rows)
    for index, name in enumerate(names):
        axis = figure.add_subplot(rows, columns, index + 1)
        result = report["features"][name]
        if name in baseline.numeric:
            _numeric_panel(
                axis,
                baseline.numeric[name].edges,
                baseline.numeric[name].counts,
                summary.numeric[name],
            )
        else:
            categories = result.get("categories") or dict(summary.categorical.get(name, {}))
            reference = result.get("baseline_categories") or baseline.categorical.get(name, {})
            labels = sorted(set(categories) | set(reference))
            if name == "predicted_class":
                shown = [
                    baseline.class_names[int(c)]
                    if c.isdigit() and int(c) < len(baseline.class_names)
                    else c
                    for c in labels
                ]
            else:
                shown = labels
            base_total = max(sum(reference.values()), 1)
            window_total = max(sum(categories.values()), 1)
            positions = np.arange(len(labels))
            axis.bar(
                positions - 0.2,
                [reference.get(c, 0) / base_total for c in labels],
                0.4,
                color=BASELINE_COLOUR,
                label="baseline",
            )
            axis.bar(
                positions + 0.2,
                [categories.get(c, 0) / window_total for c in labels],
                0.4,
                color=WINDOW_COLOUR,
                label="window",
            )
            axis.set_xticks(positions, shown, fontsize=7)
        if "score" in result:
            subtitle = f"score {result['score']:.2f}" + (
                f"  PSI {result['psi']:.2f}" if result.get("psi") is not None else ""
            )
        else:
            subtitle = result.get("skipped", "not tested")
        drift = result.get("drift")
        axis.set_title(
            f"{name}{'  DRIFT' if drift else ''}\n{subtitle}",
            fontsize=9,
            color=DRIFT_COLOUR if drift else "black",
        )
        axis.tick_params(labelsize=7)
        if index == 0:
            axis.legend(fontsize=7)
    return _png(figure)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render_html(report: dict[str, Any], summary: WindowSummary) -> str:
    status = report["status"]
    colour = {"drift": DRIFT_COLOUR, "ok": "#1e8449"}.get(status, "#b9770e")
    confidence_png = base64.b64encode(confidence_plot(report, summary)).decode()
    features_png = base64.b64encode(features_plot(report, summary)).decode()
    overview = {
        "window": f"{report['window']['start'] or '-'} to {report['window']['end'] or '-'}",
        "captures": report.get("captures", ""),
        "records": report["records"],
        "invalid records": report["invalid_records"],
        "skipped (by reason)": ", ".join(f"{k}: {v}" for k, v in report["skipped"].items()) or "-",
        "low-confidence rate": report["low_confidence_rate"],
        "mean confidence": report["mean_confidence"],
        "drift score (>= 1 is drift)": report["drift_score"],
        "drifted features": ", ".join(report["drifted_features"]) or "-",
        "baseline": f"{report['baseline']['content_sha256'][:12]} "
        f"(created {report['baseline']['created_at']}, model "
        f"{(report['baseline']['model_sha256'] or 'none')[:12]})",
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in overview.items()
    )
    feature_rows = []
    for name, result in sorted(
        report["features"].items(), key=lambda item: -item[1].get("score", -1.0)
    ):
        style = f' style="color:{DRIFT_COLOUR};font-weight:bold"' if result.get("drift") else ""
        cells = [
            name,
            result["test"],
            result["n"],
            result.get("statistic", "-"),
            result.get("p_value", "-"),
            result.get("score", "-"),
            result.get("psi", "-"),
            "yes" if result.get("drift") else result.get("skipped", "no"),
        ]
        feature_rows.append(
            f"<tr{style}>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>"
        )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report["warnings"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: {html.escape(status)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #1b2631; }}
.status {{ display: inline-block; padding: .2em .8em; color: white; background: {colour};
  border-radius: 4px; font-weight: bold; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left; font-size: .9em; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
</style></head><body>
<h1>Drift report <span class="status">{html.escape(status.upper())}</span></h1>
<table>{rows}</table>
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<h2>Confidence over time</h2>
<img alt="confidence over time" src="data:image/png;base64,{confidence_png}">
<h2>Features against the baseline</h2>
<p>Grey: baseline (training images / validation predictions). Blue: this window.
Score = log(p) / log(per-test alpha); 1 or more is drift. {_cell(report["decision"]["rule"])}.</p>
<img alt="feature histograms" src="data:image/png;base64,{features_png}">
<table><tr><th>feature</th><th>test</th><th>n</th><th>statistic</th><th>p-value</th>
<th>score</th><th>PSI</th><th>drift</th></tr>{"".join(feature_rows)}</table>
</body></html>
"""


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1, sort_keys=True, allow_nan=False, default=str)


def write_local(
    report: dict[str, Any], summary: WindowSummary, folder: Path, html: bool = True
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(to_json(_finite(report)))
    if html:
        (folder / "report.html").write_text(render_html(report, summary))


def write_s3(
    report: dict[str, Any], summary: WindowSummary, uri_prefix: str, client: Any, html: bool = True
) -> list[str]:
    """Put report.json (and report.html) under an s3:// prefix; returns the URIs written."""
    bucket, prefix = parse_s3_uri(uri_prefix)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    written = []
    objects = [("report.json", to_json(_finite(report)), "application/json")]
    if html:
        objects.append(("report.html", render_html(report, summary), "text/html"))
    for name, body, content_type in objects:
        client.put_object(
            Bucket=bucket, Key=prefix + name, Body=body.encode(), ContentType=content_type
        )
        written.append(f"s3://{bucket}/{prefix}{name}")
    return written


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as strings so the file stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
