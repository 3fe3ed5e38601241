"""Slices: which examples share a value of the slicing features.

A slicing spec is a list of feature names: ``["trip_start_hour"]`` makes one slice
per hour, ``["payment_type", "company"]`` one per pair of values that occurs. A slice
key is a tuple of ``(feature, value)`` pairs; the overall slice, every example, is
the empty tuple. An example whose feature is absent or empty falls in the slice
``"(missing)"``; an example whose feature has several values falls in the slice of
each of them.

Example:
    >>> specs = check_slicing_specs("Evaluator", [["hour"], ["hour", "day"]])
    >>> keys = SliceKeys(specs)
    >>> keys.keys({"hour": [7], "day": [b"mon"]})
    [(), (('hour', 7),), (('hour', 7), ('day', 'mon'))]
    >>> slice_name(keys.keys({"day": [b"tue"]})[2])
    'hour=(missing), day=tue'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline import DefinitionError, did_you_mean

MISSING = "(missing)"
OVERALL: tuple = ()

SliceKey = tuple


def check_slicing_specs(owner: str, specs: Any) -> list[tuple[str, ...]]:
    """The slicing specs as tuples of feature names, after checking their form.

    Raises:
        DefinitionError: ``specs`` is not a list of non-empty lists of distinct
            feature names; the message shows the form to write.
    """
    if specs is None:
        return []
    form = (
        "slicing_specs must be a list of lists of feature names, one list per "
        "slicing, e.g. [['trip_start_hour'], ['payment_type', 'company']] (a list "
        "of several features slices by their combinations)"
    )
    if not isinstance(specs, (list, tuple)):
        raise DefinitionError(f"{owner}: {form}; got {specs!r}.")
    checked: list[tuple[str, ...]] = []
    for spec in specs:
        if isinstance(spec, str):
            raise DefinitionError(
                f"{owner}: {form}; got {specs!r}. To slice by {spec!r} write "
                f"slicing_specs=[[{spec!r}]]."
            )
        if (
            not isinstance(spec, (list, tuple))
            or not spec
            or not all(isinstance(name, str) and name for name in spec)
        ):
            raise DefinitionError(
                f"{owner}: {form}; the entry {spec!r} is not a non-empty list of "
                f"feature names."
            )
        if len(set(spec)) != len(spec):
            raise DefinitionError(
                f"{owner}: slicing_specs entry {list(spec)!r} names a feature twice; "
                f"name each feature once."
            )
        if tuple(spec) in checked:
            raise DefinitionError(
                f"{owner}: slicing_specs lists {list(spec)!r} twice; list each "
                f"slicing once."
            )
        checked.append(tuple(spec))
    return checked


def check_features_seen(
    owner: str,
    specs: Sequence[tuple[str, ...]],
    found: Iterable[str],
    names: Iterable[str],
    where: str,
) -> None:
    """Raises if a slicing feature occurs in no example.

    Args:
        owner: Who is asking, for messages.
        specs: The checked slicing specs.
        found: The slicing features found in at least one example.
        names: Feature names of the examples, for suggestions.
        where: The examples, in words (``"split 'eval' of /r/examples/3"``).

    Raises:
        DefinitionError: Names the feature, suggests a close name, lists the
            features the examples have.
    """
    found, names = set(found), sorted(set(names))
    for spec in specs:
        for name in spec:
            if name not in found:
                raise DefinitionError(
                    f"{owner}: slicing_specs names the feature {name!r}, which no "
                    f"example of {where} has.{did_you_mean(name, names)} The examples "
                    f"have: {', '.join(names) or 'no features'}. Fix the name in "
                    f"slicing_specs."
                )


class SliceKeys:
    """Computes the slice keys of examples for a list of slicing specs.

    Args:
        specs: The checked slicing specs (``check_slicing_specs``).
    """

    def __init__(self, specs: Sequence[tuple[str, ...]]):
        self.specs = [tuple(spec) for spec in specs]
        self.features = sorted({name for spec in self.specs for name in spec})

    def keys(self, values: Mapping[str, Sequence[Any]]) -> list[SliceKey]:
        """The keys of one example, the overall key first.

        Args:
            values: The example's values of (at least) the slicing features; a
                feature may be absent. Bytes are decoded as UTF-8.
        """
        found = {name: _slice_values(values.get(name)) for name in self.features}
        keys: list[SliceKey] = [OVERALL]
        for spec in self.specs:
            for combination in itertools.product(*(found[name] for name in spec)):
                keys.append(tuple(zip(spec, combination)))
        return keys

    def keys_of_serialized(
        self, records: Sequence[bytes], found: set[str] | None = None
    ) -> list[list[SliceKey]]:
        """The keys of each serialized tf.Example; adds the slicing features that
        occur to ``found`` when given."""
        from tensorflow.core.example import example_pb2

        parse = example_pb2.Example.FromString
        result = []
        for record in records:
            features = parse(record).features.feature
            values = {}
            for name in self.features:
                if name in features:
                    feature = features[name]
                    kind = feature.WhichOneof("kind")
                    values[name] = getattr(feature, kind).value if kind else ()
            if found is not None:
                found.update(values)
            result.append(self.keys(values))
        return result

    def spec_index(self, key: SliceKey) -> int:
        """The position in the specs of the spec that made ``key`` (-1: overall)."""
        if key == OVERALL:
            return -1
        return self.specs.index(tuple(name for name, _ in key))


def _slice_values(values: Sequence[Any] | None) -> list[Any]:
    if values is None or len(values) == 0:
        return [MISSING]
    decoded = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, float):
            # float_list values are float32: keep their short form (12.45, not
            # 12.449999809265137).
            value = float(f"{value:.7g}")
        decoded.append(value)
    return list(dict.fromkeys(decoded))


def slice_name(key: SliceKey) -> str:
    """The key in words: ``"hour=7, day=mon"``, or ``"Overall"``."""
    if key == OVERALL:
        return "Overall"
    return ", ".join(f"{name}={value}" for name, value in key)


def sort_key(key: SliceKey) -> tuple:
    """Orders the keys of one spec: numbers, then strings, then ``(missing)``."""
    return tuple(
        (2, 0, "")
        if value == MISSING
        else (1, 0, value)
        if isinstance(value, str)
        else (0, value, "")
        for _, value in key
    )
