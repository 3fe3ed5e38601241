"""The evaluation's outputs: ``metrics.json`` and a self-contained ``report.html``.

``metrics.json`` (layout in docs/evaluator.md)::

    {"version": 1, "split": "eval", "examples": "<uri>",
     "model": {"uri": ..., "model_type": "classification", "classes": 2},
     "baseline": null or {"uri": ..., ...},
     "slicing_specs": [["trip_start_hour"]],
     "overall": {"slice": {}, "metrics": {...}, "plots": {...}},
     "slices": [{"slice": {"trip_start_hour": 0}, "metrics": {...}, "plots": {...}}],
     "baseline_metrics": null or {"overall": {...}, "slices": [...]},
     "thresholds": [{"metric": "auc", "check": "lower_bound", ...}],
     "blessed": true, "reasons": ["auc 0.91 >= lower_bound 0.7"]}

Undefined metrics (NaN) are written as ``null``. The HTML report draws its plots as
inline SVG: a bar chart of the headline metric per slice for each slicing spec, and
the calibration plot of binary models.

Example:
    >>> clean({"auc": float("nan"), "plots": [1.5, float("inf")]})
    {'auc': None, 'plots': [1.5, None]}
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from pipeline import fs

VERSION = 1
_MAX_BARS = 60
_BLUE, _GREY, _RED, _GREEN = "#3366cc", "#aaaaaa", "#c0392b", "#1e8449"


def document(
    *,
    split: str,
    examples_uri: str,
    signatures: dict[str, Any],
    specs: Sequence[tuple[str, ...]],
    slices: dict[str, list[Any]],
    outcomes: Sequence[Any],
    reasons: list[str],
) -> dict[str, Any]:
    """The metrics.json document (NaN still in it: ``write_metrics`` cleans).

    Args:
        split: The split evaluated.
        examples_uri: The Examples artifact's URI.
        signatures: The models' ``EvalSignature`` by role (``"model"``,
            ``"baseline_model"``).
        specs: The slicing specs.
        slices: Each role's ``SliceResult``s, the overall slice first.
        outcomes: The threshold ``Result``s.
        reasons: The blessing's reasons.
    """

    def entries(role: str) -> list[dict[str, Any]]:
        return [
            {"slice": dict(r.key), "metrics": r.metrics, "plots": r.plots}
            for r in slices[role]
        ]

    model = entries("model")
    baseline = entries("baseline_model") if "baseline_model" in slices else None
    return {
        "version": VERSION,
        "split": split,
        "examples": examples_uri,
        "model": signatures["model"].describe(),
        "baseline": signatures["baseline_model"].describe() if baseline else None,
        "slicing_specs": [list(spec) for spec in specs],
        "overall": model[0],
        "slices": model[1:],
        "baseline_metrics": (
            {"overall": baseline[0], "slices": baseline[1:]} if baseline else None
        ),
        "thresholds": [o.to_dict() for o in outcomes],
        "blessed": all(o.passed for o in outcomes),
        "reasons": reasons,
    }


def clean(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def write_metrics(path: str, document: dict[str, Any]) -> None:
    """Writes metrics.json whole (aside, then renamed into place)."""
    fs.write_text(path, json.dumps(clean(document), indent=1) + "\n")


def headline_metric(document: dict[str, Any]) -> str:
    """The metric the report charts per slice: auc, else accuracy; rmse for
    regression."""
    metrics = document["overall"]["metrics"]
    if document["model"]["model_type"] == "regression":
        return "rmse"
    return "auc" if metrics.get("auc") is not None else "accuracy"


def write_report(path: str, document: dict[str, Any]) -> None:
    """Writes report.html for a metrics.json document (as ``clean`` leaves it)."""
    fs.write_text(path, render(clean(document)))


def render(document: dict[str, Any]) -> str:
    """The HTML report of a cleaned metrics.json document."""
    doc = document
    baseline = doc.get("baseline_metrics")
    verdict = "BLESSED" if doc["blessed"] else "NOT BLESSED"
    color = _GREEN if doc["blessed"] else _RED
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation: {_e(verdict)}</title>",
        "<style>body{font-family:sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;margin:8px 0 16px}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f2f2f2}td.l,th.l{text-align:left}"
        ".pass{color:#1e8449}.fail{color:#c0392b}.skip{color:#888}</style>",
        "</head><body>",
        f"<h1>Model evaluation: <span style='color:{color}'>{verdict}</span></h1>",
        "<table>",
        _row(["Model", doc["model"]["uri"]], left=True),
        _row(["Model type", _model_kind(doc["model"])], left=True),
        _row(
            ["Baseline", doc["baseline"]["uri"] if doc["baseline"] else "none"],
            left=True,
        ),
        _row(["Examples", f"split {doc['split']!r} of {doc['examples']}"], left=True),
        "</table>",
        "<h2>Thresholds</h2>",
        _thresholds(doc["thresholds"], doc["reasons"]),
        "<h2>Overall</h2>",
        _overall(doc["overall"], baseline["overall"] if baseline else None),
    ]
    plots = doc["overall"]["plots"]
    if "calibration_plot" in plots:
        parts += [
            "<h3>Calibration</h3>",
            "<p>Mean label against mean predicted probability of class 1, per "
            "bucket of predicted probability; the diagonal is perfect calibration."
            "</p>",
            _calibration_svg(
                plots["calibration_plot"],
                baseline["overall"]["plots"].get("calibration_plot")
                if baseline
                else None,
            ),
        ]
    if "confusion_matrix" in plots:
        parts += [
            "<h3>Confusion matrix</h3>",
            "<p>Rows: label; columns: predicted class (weighted counts).</p>",
            _confusion(plots["confusion_matrix"]),
        ]
    metric = headline_metric(doc)
    for spec in doc["slicing_specs"]:
        entries = [s for s in doc["slices"] if list(s["slice"]) == spec]
        base = {
            _slice_label(s["slice"]): s
            for s in (baseline["slices"] if baseline else [])
            if list(s["slice"]) == spec
        }
        parts += [
            f"<h2>Sliced by {_e(' × '.join(spec))} ({len(entries)} slices)</h2>",
            _bars_svg(entries, base, metric),
            _slice_table(entries),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"
    return str(value)


def _model_kind(model: dict[str, Any]) -> str:
    if model["model_type"] == "classification" and model.get("classes"):
        return f"classification, {model['classes']} classes"
    return model["model_type"]


def _row(cells: Sequence[Any], header: bool = False, left: bool = False) -> str:
    tag = "th" if header else "td"
    out = []
    for i, cell in enumerate(cells):
        cls = " class='l'" if left or i == 0 else ""
        out.append(f"<{tag}{cls}>{_e(_fmt(cell))}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def _thresholds(results: list[dict[str, Any]], reasons: list[str]) -> str:
    if not results:
        return f"<p>{_e(reasons[0])}</p>"
    rows = [_row(["Metric", "Check", "Bound", "Value", "Baseline", "Result"], True)]
    for r in results:
        outcome, cls = (
            ("skipped", "skip")
            if r["skipped"]
            else ("passed", "pass")
            if r["passed"]
            else ("FAILED", "fail")
        )
        cells = [r["metric"], r["check"], r["bound"], r["value"], r["baseline"]]
        rows.append(
            _row(cells)[: -len("</tr>")]
            + f"<td class='l {cls}'>{outcome}: {_e(r['message'])}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _overall(model: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    header = ["Metric", "Model"] + (["Baseline", "Change"] if baseline else [])
    rows = [_row(header, True)]
    for name, value in model["metrics"].items():
        cells = [name, value]
        if baseline:
            base = baseline["metrics"].get(name)
            change = value - base if None not in (value, base) else None
            cells += [base, change]
        rows.append(_row(cells))
    return "<table>" + "".join(rows) + "</table>"


def _confusion(matrix: list[list[float]]) -> str:
    top = max((v for row in matrix for v in row), default=0) or 1
    rows = [_row(["label \\ predicted", *range(len(matrix))], True)]
    for label, row in enumerate(matrix):
        cells = "".join(
            f"<td style='background:rgba(51,102,204,{0.6 * v / top:.2f})'>"
            f"{_e(_fmt(v))}</td>"
            for v in row
        )
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _slice_label(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "Overall"


def _slice_table(entries: list[dict[str, Any]]) -> str:
    names: list[str] = []
    for s in entries:
        names += [n for n in s["metrics"] if n not in names]
    rows = [_row(["Slice", *names], True)]
    rows += [
        _row([_slice_label(s["slice"]), *(s["metrics"].get(n) for n in names)])
        for s in entries
    ]
    return "<table>" + "".join(rows) + "</table>"


def _bars_svg(
    entries: list[dict[str, Any]], baseline: dict[str, dict[str, Any]], metric: str
) -> str:
    shown = entries[:_MAX_BARS]
    values = [s["metrics"].get(metric) for s in shown]
    base_values = [
        baseline.get(_slice_label(s["slice"]), {}).get("metrics", {}).get(metric)
        for s in shown
    ]
    top = max([v for v in values + base_values if v is not None] + [1e-12])
    if metric in ("auc", "accuracy"):
        top = max(top, 1.0)
    label_width, bar_width, row = 260, 360, 20
    height = row * len(shown) + 40
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_width + bar_width + 80}' "
        f"height='{height}' font-size='11' font-family='sans-serif'>",
        f"<text x='0' y='14' font-weight='bold'>{_e(metric)} per slice"
        f"{' (blue: model, grey: baseline)' if baseline else ''}</text>",
    ]
    for i, (s, value, base) in enumerate(zip(shown, values, base_values)):
        y = 26 + i * row
        count = s["metrics"].get("example_count")
        label = f"{_slice_label(s['slice'])} (n={count})"
        out.append(
            f"<text x='{label_width - 6}' y='{y + 12}' text-anchor='end'>"
            f"{_e(label[:45])}</text>"
        )
        if value is not None:
            width = bar_width * max(value, 0) / top
            out.append(
                f"<rect x='{label_width}' y='{y + 2}' width='{width:.1f}' "
                f"height='{10 if base is not None else 14}' fill='{_BLUE}'/>"
            )
        if base is not None:
            width = bar_width * max(base, 0) / top
            out.append(
                f"<rect x='{label_width}' y='{y + 12}' width='{width:.1f}' "
                f"height='5' fill='{_GREY}'/>"
            )
        out.append(
            f"<text x='{label_width + bar_width + 6}' y='{y + 12}'>"
            f"{_e(_fmt(value))}</text>"
        )
    out.append("</svg>")
    if len(entries) > _MAX_BARS:
        out.append(
            f"<p>The chart shows the first {_MAX_BARS} of {len(entries)} slices; "
            f"the table has them all.</p>"
        )
    return "".join(out)


def _calibration_svg(
    buckets: list[dict[str, Any]], baseline: list[dict[str, Any]] | None
) -> str:
    size, pad = 300, 40
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{size + 2 * pad}' "
        f"height='{size + 2 * pad}' font-size='11' font-family='sans-serif'>",
        f"<rect x='{pad}' y='{pad}' width='{size}' height='{size}' fill='none' "
        f"stroke='#999'/>",
        f"<line x1='{pad}' y1='{pad + size}' x2='{pad + size}' y2='{pad}' "
        f"stroke='#999' stroke-dasharray='4'/>",
        f"<text x='{pad + size / 2}' y='{size + pad + 28}' text-anchor='middle'>"
        f"mean prediction</text>",
        f"<text x='12' y='{pad + size / 2}' transform='rotate(-90 12 "
        f"{pad + size / 2})' text-anchor='middle'>mean label</text>",
    ]
    for tick in (0, 0.5, 1):
        out.append(
            f"<text x='{pad + tick * size}' y='{pad + size + 14}' "
            f"text-anchor='middle'>{tick}</text>"
            f"<text x='{pad - 4}' y='{pad + size - tick * size + 4}' "
            f"text-anchor='end'>{tick}</text>"
        )
    for series, color in ((baseline, _GREY), (buckets, _BLUE)):
        points = [
            (pad + b["mean_prediction"] * size, pad + size - b["mean_label"] * size)
            for b in series or []
            if b["weighted_count"] and b["mean_prediction"] is not None
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(
                f"<polyline points='{path}' fill='none' stroke='{color}' "
                f"stroke-width='2'/>"
            )
            out += [
                f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{color}'/>"
                for x, y in points
            ]
    out.append("</svg>")
    return "".join(out)
