"""Thresholds: the checks a model must pass to be blessed.

``thresholds`` maps a metric name to its bounds, checked on the overall slice::

    {
        "auc": {"lower_bound": 0.7,
                "change_vs_baseline": {"min_absolute": -0.01}},
        "log_loss": {"upper_bound": 0.6,
                     "change_vs_baseline": {"max_relative": 0.05}},
    }

``lower_bound``/``upper_bound``: the metric must be at least/at most the bound.
``change_vs_baseline``: ``change = metric - baseline's metric`` must be at least
``min_absolute`` and at most ``max_absolute``; ``change / |baseline's metric|`` at
least ``min_relative`` and at most ``max_relative``. Direction is explicit: for a
metric where higher is better allow a small drop with ``min_absolute: -0.01``; where
lower is better allow a small rise with ``max_absolute: 0.01``. Without a baseline
model the changes are reported as skipped and do not block the blessing.

Example:
    >>> checks = parse_thresholds("Evaluator", {"auc": {"lower_bound": 0.7}})
    >>> [r.message for r in evaluate(checks, {"auc": 0.64}, None)]
    ['auc 0.64 < lower_bound 0.7']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline import DefinitionError, did_you_mean

BOUNDS = ("lower_bound", "upper_bound")
CHANGES = ("min_absolute", "max_absolute", "min_relative", "max_relative")
_CHANGE_KEY = "change_vs_baseline"


@dataclasses.dataclass(frozen=True)
class Check:
    """One bound on one metric.

    Attributes:
        metric: The metric's name.
        kind: One of ``BOUNDS`` or ``CHANGES``.
        bound: The bound's value.
    """

    metric: str
    kind: str
    bound: float

    @property
    def needs_baseline(self) -> bool:
        return self.kind in CHANGES


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one ``Check``.

    Attributes:
        check: The check.
        value: The model's metric (None when undefined).
        baseline: The baseline's metric, for a change check with a baseline.
        passed: True when the check passed or was skipped.
        skipped: True for a change check without a baseline model.
        message: The outcome in words, e.g. ``"auc 0.64 < lower_bound 0.7"``.
    """

    check: Check
    value: float | None
    baseline: float | None
    passed: bool
    skipped: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON values, for metrics.json."""
        return {
            "metric": self.check.metric,
            "check": self.check.kind,
            "bound": self.check.bound,
            "value": self.value,
            "baseline": self.baseline,
            "passed": self.passed,
            "skipped": self.skipped,
            "message": self.message,
        }


def parse_thresholds(owner: str, thresholds: Any) -> list[Check]:
    """The checks of a ``thresholds`` parameter, after checking its form.

    Metric names are checked later, by ``check_metric_names``, once the model's
    kind is known.

    Raises:
        DefinitionError: Not a dict of dicts, an unknown key (with did-you-mean), a
            bound that is not a number, a lower bound above the upper one, or a
            metric with no bound.
    """
    if thresholds is None:
        return []
    example = "e.g. {'auc': {'lower_bound': 0.7}}"
    if not isinstance(thresholds, Mapping):
        raise DefinitionError(
            f"{owner}: thresholds must be a dict of metric name to bounds, {example}; "
            f"got {type(thresholds).__name__} {thresholds!r}."
        )
    checks: list[Check] = []
    for metric, spec in thresholds.items():
        where = f"{owner}: thresholds[{metric!r}]"
        if not isinstance(spec, Mapping):
            hint = (
                f" For a lower bound write {{{metric!r}: {{'lower_bound': {spec!r}}}}}."
                if _is_number(spec)
                else ""
            )
            raise DefinitionError(
                f"{where} must be a dict of bounds, {example}; got "
                f"{type(spec).__name__} {spec!r}.{hint}"
            )
        if not spec:
            raise DefinitionError(
                f"{where} sets no bound; give lower_bound, upper_bound or "
                f"{_CHANGE_KEY}, or leave the metric out."
            )
        for key, value in spec.items():
            if key in BOUNDS:
                checks.append(Check(metric, key, _number(where, key, value)))
            elif key == _CHANGE_KEY:
                checks.extend(_changes(where, metric, value))
            else:
                raise DefinitionError(
                    f"{where} has the unknown key {key!r}."
                    f"{did_you_mean(key, [*BOUNDS, _CHANGE_KEY])} It takes "
                    f"{', '.join([*BOUNDS, _CHANGE_KEY])}."
                )
        _check_order(where, spec, "lower_bound", "upper_bound")
    return checks


def _changes(where: str, metric: str, spec: Any) -> list[Check]:
    where = f"{where}[{_CHANGE_KEY!r}]"
    directions = (
        "min_absolute (change = metric - baseline's must be at least it, e.g. -0.01 "
        "for a metric where higher is better), max_absolute (at most it, e.g. 0.01 "
        "where lower is better), min_relative and max_relative (the change as a "
        "fraction of the baseline's metric)"
    )
    if not isinstance(spec, Mapping) or not spec:
        raise DefinitionError(
            f"{where} must be a non-empty dict of {directions}; got {spec!r}."
        )
    checks = []
    for key, value in spec.items():
        if key not in CHANGES:
            raise DefinitionError(
                f"{where} has the unknown key {key!r}.{did_you_mean(key, CHANGES)} "
                f"It takes {directions}."
            )
        checks.append(Check(metric, key, _number(where, key, value)))
    for kind in ("absolute", "relative"):
        _check_order(where, spec, f"min_{kind}", f"max_{kind}")
    return checks


def _number(where: str, key: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise DefinitionError(
            f"{where}[{key!r}] must be a finite number, got "
            f"{type(value).__name__} {value!r}."
        )
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_order(where: str, spec: Mapping, low: str, high: str) -> None:
    if low in spec and high in spec and spec[low] > spec[high]:
        raise DefinitionError(
            f"{where}: {low} {spec[low]} is above {high} {spec[high]}, so no value "
            f"can pass; swap them or fix one."
        )


def check_metric_names(
    owner: str,
    checks: Sequence[Check],
    available: Sequence[str],
    unavailable: Mapping[str, str],
) -> None:
    """Raises if a check names a metric the evaluation will not compute.

    Args:
        owner: Who is asking, for messages.
        checks: The parsed checks.
        available: Every metric the evaluation computes (user metrics included).
        unavailable: Metrics that exist but not for this model, with the reason.

    Raises:
        DefinitionError: Names the metric, says why or suggests a close name, and
            lists the metrics available.
    """
    for check in checks:
        if check.metric in available:
            continue
        listing = f"The metrics available: {', '.join(available)}."
        if check.metric in unavailable:
            raise DefinitionError(
                f"{owner}: thresholds names {check.metric!r}, which is not computed "
                f"for this model: {unavailable[check.metric]}. {listing}"
            )
        raise DefinitionError(
            f"{owner}: thresholds names the unknown metric {check.metric!r}."
            f"{did_you_mean(check.metric, available)} {listing}"
        )


def evaluate(
    checks: Sequence[Check],
    metrics: Mapping[str, float | None],
    baseline: Mapping[str, float | None] | None,
) -> list[Result]:
    """Checks the overall metrics (and the baseline's) against every check.

    Args:
        checks: The parsed checks.
        metrics: The model's metrics on the overall slice (None or NaN: undefined).
        baseline: The baseline model's overall metrics, or None without baseline.
    """
    return [_evaluate(check, metrics, baseline) for check in checks]


def _evaluate(
    check: Check,
    metrics: Mapping[str, float | None],
    baseline: Mapping[str, float | None] | None,
) -> Result:
    name, kind, bound = check.metric, check.kind, check.bound
    value = _defined(metrics.get(name))
    if check.needs_baseline and baseline is None:
        return Result(
            check,
            value,
            None,
            True,
            True,
            f"{name} change vs baseline: no baseline model, skipped ({kind} "
            f"{_fmt(bound)})",
        )
    if value is None:
        return Result(
            check,
            None,
            None,
            False,
            False,
            f"{name} is undefined on the overall slice: fails {kind} {_fmt(bound)}",
        )
    if not check.needs_baseline:
        passed = value >= bound if kind == "lower_bound" else value <= bound
        sign = (
            (">=" if passed else "<")
            if kind == "lower_bound"
            else ("<=" if passed else ">")
        )
        return Result(
            check,
            value,
            None,
            passed,
            False,
            f"{name} {_fmt(value)} {sign} {kind} {_fmt(bound)}",
        )
    base = _defined(baseline.get(name))
    if base is None:
        return Result(
            check,
            value,
            None,
            False,
            False,
            f"{name} change vs baseline: the baseline's {name} is undefined: fails "
            f"{kind} {_fmt(bound)}",
        )
    change, what = value - base, "change"
    if kind.endswith("_relative"):
        what = "relative change"
        if base == 0:
            return Result(
                check,
                value,
                base,
                False,
                False,
                f"{name} relative change vs baseline is undefined (the baseline's "
                f"{name} is 0): fails {kind} {_fmt(bound)}",
            )
        change /= abs(base)
    passed = change >= bound if kind.startswith("min_") else change <= bound
    sign = (
        (">=" if passed else "<")
        if kind.startswith("min_")
        else ("<=" if passed else ">")
    )
    return Result(
        check,
        value,
        base,
        passed,
        False,
        f"{name} {what} vs baseline {change:+.6g} ({_fmt(value)} vs {_fmt(base)}) "
        f"{sign} {kind} {_fmt(bound)}",
    )


def blessing(results: Sequence[Result]) -> tuple[bool, list[str]]:
    """``(blessed, reasons)``: blessed iff every check passed (or was skipped); the
    reasons name the failed checks first."""
    if not results:
        return True, ["no thresholds set: blessed without checks"]
    ordered = sorted(results, key=lambda r: r.passed)
    return all(r.passed for r in results), [r.message for r in ordered]


def _defined(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:.6g}"
