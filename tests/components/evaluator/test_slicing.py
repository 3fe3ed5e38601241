"""Slicing specs and the slice keys of examples."""

import re

import pytest

from components.evaluator.slicing import (
    MISSING,
    SliceKeys,
    check_features_seen,
    check_slicing_specs,
    slice_name,
    sort_key,
)
from pipeline import DefinitionError

OWNER = "Evaluator 'evaluator'"
FORM = (
    "slicing_specs must be a list of lists of feature names, one list per slicing, "
    "e.g. [['trip_start_hour'], ['payment_type', 'company']] (a list of several "
    "features slices by their combinations)"
)


def serialized(**features) -> bytes:
    import tensorflow as tf

    example = tf.train.Example()
    for name, values in features.items():
        feature = example.features.feature[name]
        for value in values:
            if isinstance(value, str):
                feature.bytes_list.value.append(value.encode())
            elif isinstance(value, float):
                feature.float_list.value.append(value)
            else:
                feature.int64_list.value.append(value)
        if not values:
            feature.int64_list.SetInParent()
    return example.SerializeToString()


class TestSpecs:
    def test_specs_become_tuples(self):
        assert check_slicing_specs(OWNER, [["a"], ["a", "b"]]) == [("a",), ("a", "b")]
        assert check_slicing_specs(OWNER, None) == []

    @pytest.mark.parametrize(
        ("specs", "message"),
        [
            (
                ["trip_start_hour"],
                f"{OWNER}: {FORM}; got ['trip_start_hour']. To slice by "
                f"'trip_start_hour' write slicing_specs=[['trip_start_hour']].",
            ),
            ("hour", f"{OWNER}: {FORM}; got 'hour'."),
            (
                [[]],
                f"{OWNER}: {FORM}; the entry [] is not a non-empty list of feature names.",
            ),
            (
                [["a", 1]],
                f"{OWNER}: {FORM}; the entry ['a', 1] is not a non-empty list of "
                f"feature names.",
            ),
            (
                [["a", "a"]],
                f"{OWNER}: slicing_specs entry ['a', 'a'] names a feature twice; name "
                f"each feature once.",
            ),
            (
                [["a"], ["a"]],
                f"{OWNER}: slicing_specs lists ['a'] twice; list each slicing once.",
            ),
        ],
    )
    def test_a_bad_spec_shows_the_form_to_write(self, specs, message):
        with pytest.raises(DefinitionError, match=re.escape(message)):
            check_slicing_specs(OWNER, specs)

    def test_a_feature_never_seen_gets_a_suggestion(self):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: slicing_specs names the feature 'trip_start_hr', which no "
                f"example of split 'eval' has. Did you mean 'trip_start_hour'? The "
                f"examples have: fare, trip_start_hour. Fix the name in slicing_specs."
            ),
        ):
            check_features_seen(
                OWNER,
                [("fare",), ("trip_start_hr",)],
                {"fare"},
                {"trip_start_hour", "fare"},
                "split 'eval'",
            )
        check_features_seen(OWNER, [("fare",)], {"fare"}, set(), "split 'eval'")


class TestKeys:
    def test_keys_of_serialized_examples(self):
        keys = SliceKeys([("hour",), ("payment", "hour")])
        present = set()
        found = keys.keys_of_serialized(
            [
                serialized(hour=[7], payment=["Cash"], fare=[12.45]),
                serialized(fare=[3.0]),
                serialized(hour=[], payment=["Card", "Cash"]),
            ],
            present,
        )
        assert found == [
            [(), (("hour", 7),), (("payment", "Cash"), ("hour", 7))],
            [(), (("hour", MISSING),), (("payment", MISSING), ("hour", MISSING))],
            [
                (),
                (("hour", MISSING),),
                (("payment", "Card"), ("hour", MISSING)),
                (("payment", "Cash"), ("hour", MISSING)),
            ],
        ]
        assert present == {"hour", "payment"}

    def test_float_values_keep_their_short_form(self):
        keys = SliceKeys([("fare",)])
        [found] = keys.keys_of_serialized([serialized(fare=[12.45])])
        assert found[1] == (("fare", 12.45),)

    def test_names_and_order(self):
        assert slice_name(()) == "Overall"
        assert slice_name((("a", 1), ("b", "x"))) == "a=1, b=x"
        keys = [(("h", MISSING),), (("h", "b"),), (("h", 10),), (("h", 2),)]
        assert sorted(keys, key=sort_key) == [
            (("h", 2),),
            (("h", 10),),
            (("h", "b"),),
            (("h", MISSING),),
        ]
