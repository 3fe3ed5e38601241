"""Output splits: the input's own splits, or named buckets filled by a stable hash.

A hash split sends each row to a bucket by a 64-bit hash of its canonical bytes: the
serialized tf.Example (features in key order, so equal rows hash equally whatever the
input format), or the value of one chosen column, so that every row of one customer
lands in the same split. The hash is ``splitmix64(crc32c(bytes))``: both halves are
fixed, documented functions, so the same input gives the same split on every machine,
runner and run. Buckets take shares of the hash range in proportion to their weights.

Example:
    >>> plan = plan_splits("Gen", None, {"train": 2, "eval": 1}, None)
    >>> plan.names, plan.weights
    (('train', 'eval'), (2.0, 1.0))
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipeline import DefinitionError

DEFAULT_OUTPUT_SPLITS = {"train": 2, "eval": 1}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """How rows are split.

    Attributes:
        names: The output split names, in order.
        weights: Each hash bucket's weight; None when the input's own splits are kept.
        column: The column whose value is hashed instead of the whole row, if any.
    """

    names: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    column: str | None = None

    @property
    def by_hash(self) -> bool:
        """True when rows are assigned to buckets by hash."""
        return self.weights is not None

    def assign(self, crcs: Any) -> Any:
        """Bucket index of each row, from the CRC32C of its canonical bytes.

        Example:
            >>> import numpy as np
            >>> plan = SplitPlan(("a", "b"), (1.0, 1.0))
            >>> plan.assign(np.array([0, 1, 2, 3], np.uint32)).tolist()
            [1, 1, 1, 0]
        """
        import numpy as np

        z = crcs.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        total = sum(self.weights)
        running, bounds = 0.0, []
        for weight in self.weights[:-1]:
            running += weight
            bounds.append(int(running / total * 2**32))
        return np.searchsorted(
            np.array(bounds, np.uint64), z >> np.uint64(32), side="right"
        )


def check_split_name(owner: str, name: Any, what: str) -> None:
    """Raises DefinitionError unless ``name`` can name a split folder."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{owner}: {what} has the split name {name!r}; split names are used in "
            f"folder names (Split-<name>), so use letters, digits, '_', '.' and '-', "
            f"starting with a letter or digit, e.g. 'train'."
        )


def plan_splits(
    owner: str,
    input_splits: list[str] | None,
    output_splits: dict[str, float] | None,
    split_column: str | None,
) -> SplitPlan:
    """Checks the split options of an ExampleGen and returns its plan.

    Args:
        owner: The component's name, for messages.
        input_splits: The names of the input's own splits, when it has them.
        output_splits: Hash buckets and their weights (default train 2 : eval 1).
        split_column: A column to hash instead of the whole row.

    Raises:
        DefinitionError: Both kinds of splits, a bad name or a weight that is not
            positive.
    """
    if input_splits:
        if output_splits:
            raise DefinitionError(
                f"{owner}: give either input_splits (keep the input's own splits) or "
                f"output_splits (split one input by hash), not both."
            )
        if split_column:
            raise DefinitionError(
                f"{owner}: split_column={split_column!r} only applies to a split by "
                f"hash (output_splits); the input's own splits are kept as they are."
            )
        for name in input_splits:
            check_split_name(owner, name, "input_splits")
        return SplitPlan(tuple(input_splits))
    buckets = DEFAULT_OUTPUT_SPLITS if output_splits is None else output_splits
    if not buckets:
        raise DefinitionError(
            f"{owner}: output_splits is empty; name at least one split with a weight, "
            f"e.g. output_splits={DEFAULT_OUTPUT_SPLITS}."
        )
    for name, weight in buckets.items():
        check_split_name(owner, name, "output_splits")
        if (
            not isinstance(weight, (int, float))
            or isinstance(weight, bool)
            or weight <= 0
        ):
            raise DefinitionError(
                f"{owner}: output_splits[{name!r}] is {weight!r}; each weight must be "
                f"a positive number (the share of rows is weight / sum of weights), "
                f"e.g. output_splits={DEFAULT_OUTPUT_SPLITS}."
            )
    if split_column is not None and (
        not isinstance(split_column, str) or not split_column
    ):
        raise DefinitionError(
            f"{owner}: split_column must be a column name, got {split_column!r}."
        )
    return SplitPlan(
        tuple(buckets), tuple(float(w) for w in buckets.values()), split_column
    )
