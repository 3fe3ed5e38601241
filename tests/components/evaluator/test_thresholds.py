"""Thresholds: their form is checked before anything runs, and each check says in
words why it passed or failed."""

import math
import re

import pytest

from components.evaluator.thresholds import (
    Check,
    blessing,
    check_metric_names,
    evaluate,
    parse_thresholds,
)
from pipeline import DefinitionError

OWNER = "Evaluator 'evaluator'"


def messages(thresholds, metrics, baseline=None):
    return [
        r.message
        for r in evaluate(parse_thresholds(OWNER, thresholds), metrics, baseline)
    ]


class TestForm:
    def test_bounds_and_changes_become_checks(self):
        checks = parse_thresholds(
            OWNER,
            {
                "auc": {
                    "lower_bound": 0.7,
                    "change_vs_baseline": {"min_absolute": -0.01},
                },
                "log_loss": {
                    "upper_bound": 1,
                    "change_vs_baseline": {"max_relative": 0.1},
                },
            },
        )
        assert checks == [
            Check("auc", "lower_bound", 0.7),
            Check("auc", "min_absolute", -0.01),
            Check("log_loss", "upper_bound", 1.0),
            Check("log_loss", "max_relative", 0.1),
        ]
        assert parse_thresholds(OWNER, None) == []

    @pytest.mark.parametrize(
        ("thresholds", "message"),
        [
            (
                {"auc": 0.7},
                f"{OWNER}: thresholds['auc'] must be a dict of bounds, e.g. {{'auc': "
                f"{{'lower_bound': 0.7}}}}; got float 0.7. For a lower bound write "
                f"{{'auc': {{'lower_bound': 0.7}}}}.",
            ),
            (
                {"auc": {"lower_bund": 0.7}},
                f"{OWNER}: thresholds['auc'] has the unknown key 'lower_bund'. Did you "
                f"mean 'lower_bound'? It takes lower_bound, upper_bound, "
                f"change_vs_baseline.",
            ),
            (
                {"auc": {"lower_bound": "0.7"}},
                f"{OWNER}: thresholds['auc']['lower_bound'] must be a finite number, "
                f"got str '0.7'.",
            ),
            (
                {"auc": {"lower_bound": True}},
                f"{OWNER}: thresholds['auc']['lower_bound'] must be a finite number, "
                f"got bool True.",
            ),
            (
                {"auc": {"lower_bound": 0.9, "upper_bound": 0.8}},
                f"{OWNER}: thresholds['auc']: lower_bound 0.9 is above upper_bound "
                f"0.8, so no value can pass; swap them or fix one.",
            ),
            (
                {"auc": {}},
                f"{OWNER}: thresholds['auc'] sets no bound; give lower_bound, "
                f"upper_bound or change_vs_baseline, or leave the metric out.",
            ),
            (
                {"mse": {"change_vs_baseline": {"min_absolute": 1, "max_absolute": 0}}},
                f"{OWNER}: thresholds['mse']['change_vs_baseline']: min_absolute 1 is "
                f"above max_absolute 0, so no value can pass; swap them or fix one.",
            ),
            (
                [("auc", 0.7)],
                f"{OWNER}: thresholds must be a dict of metric name to bounds, e.g. "
                f"{{'auc': {{'lower_bound': 0.7}}}}; got list [('auc', 0.7)].",
            ),
        ],
    )
    def test_a_bad_form_is_explained(self, thresholds, message):
        with pytest.raises(DefinitionError, match=re.escape(message)):
            parse_thresholds(OWNER, thresholds)

    def test_a_change_without_direction_names_both_directions(self):
        with pytest.raises(DefinitionError) as caught:
            parse_thresholds(
                OWNER, {"auc": {"change_vs_baseline": {"absolute": -0.01}}}
            )
        assert str(caught.value).startswith(
            f"{OWNER}: thresholds['auc']['change_vs_baseline'] has the unknown key "
            f"'absolute'. Did you mean 'min_absolute'? It takes min_absolute (change "
            f"= metric - baseline's must be at least it, e.g. -0.01 for a metric "
            f"where higher is better), max_absolute (at most it, e.g. 0.01 where "
            f"lower is better)"
        )

    def test_an_unknown_metric_gets_a_suggestion(self):
        checks = parse_thresholds(OWNER, {"acuracy": {"lower_bound": 0.5}})
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: thresholds names the unknown metric 'acuracy'. Did you mean "
                f"'accuracy'? The metrics available: accuracy, auc."
            ),
        ):
            check_metric_names(OWNER, checks, ["accuracy", "auc"], {})

    def test_a_metric_of_another_kind_of_model_says_why(self):
        checks = parse_thresholds(OWNER, {"calibration": {"lower_bound": 0.9}})
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: thresholds names 'calibration', which is not computed for "
                f"this model: binary only. The metrics available: auc."
            ),
        ):
            check_metric_names(OWNER, checks, ["auc"], {"calibration": "binary only"})


class TestOutcome:
    def test_absolute_bounds_pass_and_fail_in_words(self):
        thresholds = {"auc": {"lower_bound": 0.7}, "log_loss": {"upper_bound": 0.5}}
        assert messages(thresholds, {"auc": 0.64, "log_loss": 0.5}) == [
            "auc 0.64 < lower_bound 0.7",
            "log_loss 0.5 <= upper_bound 0.5",
        ]
        assert messages(thresholds, {"auc": 0.7, "log_loss": 0.61}) == [
            "auc 0.7 >= lower_bound 0.7",
            "log_loss 0.61 > upper_bound 0.5",
        ]

    def test_changes_compare_with_the_baseline(self):
        thresholds = {
            "auc": {"change_vs_baseline": {"min_absolute": -0.01, "min_relative": 0}},
            "mse": {"change_vs_baseline": {"max_relative": 0.1}},
        }
        results = evaluate(
            parse_thresholds(OWNER, thresholds),
            {"auc": 0.78, "mse": 2.1},
            {"auc": 0.8, "mse": 2.0},
        )
        assert [(r.passed, r.message) for r in results] == [
            (False, "auc change vs baseline -0.02 (0.78 vs 0.8) < min_absolute -0.01"),
            (
                False,
                "auc relative change vs baseline -0.025 (0.78 vs 0.8) < min_relative 0",
            ),
            (
                True,
                "mse relative change vs baseline +0.05 (2.1 vs 2) <= max_relative 0.1",
            ),
        ]
        assert results[0].baseline == 0.8

    def test_without_baseline_changes_are_skipped_and_do_not_block(self):
        thresholds = {
            "auc": {"lower_bound": 0.5, "change_vs_baseline": {"min_absolute": 0}}
        }
        results = evaluate(parse_thresholds(OWNER, thresholds), {"auc": 0.6}, None)
        assert [(r.passed, r.skipped) for r in results] == [(True, False), (True, True)]
        assert results[1].message == (
            "auc change vs baseline: no baseline model, skipped (min_absolute 0)"
        )
        assert blessing(results) == (True, [r.message for r in results])

    def test_undefined_values_fail(self):
        thresholds = {
            "auc": {"lower_bound": 0.5},
            "mse": {"change_vs_baseline": {"max_absolute": 0}},
            "mae": {"change_vs_baseline": {"max_relative": 0}},
        }
        results = evaluate(
            parse_thresholds(OWNER, thresholds),
            {"auc": math.nan, "mse": 1.0, "mae": 1.0},
            {"mse": None, "mae": 0.0},
        )
        assert [(r.passed, r.message) for r in results] == [
            (False, "auc is undefined on the overall slice: fails lower_bound 0.5"),
            (
                False,
                "mse change vs baseline: the baseline's mse is undefined: fails "
                "max_absolute 0",
            ),
            (
                False,
                "mae relative change vs baseline is undefined (the baseline's mae is "
                "0): fails max_relative 0",
            ),
        ]

    def test_blessed_only_when_every_check_passes(self):
        checks = parse_thresholds(
            OWNER, {"auc": {"lower_bound": 0.7, "upper_bound": 0.9}}
        )
        assert blessing(evaluate(checks, {"auc": 0.8}, None))[0] is True
        blessed, reasons = blessing(evaluate(checks, {"auc": 0.95}, None))
        assert blessed is False
        # The failed check first.
        assert reasons == ["auc 0.95 > upper_bound 0.9", "auc 0.95 >= lower_bound 0.7"]
        assert blessing([]) == (True, ["no thresholds set: blessed without checks"])
