"""splits.py: split options and the stable hash that assigns rows to buckets."""

import re

import numpy as np
import pytest

from components.example_gen.splits import SplitPlan, plan_splits
from pipeline import DefinitionError


def test_the_default_is_train_two_to_eval_one():
    plan = plan_splits("Gen", None, None, None)
    assert plan == SplitPlan(("train", "eval"), (2.0, 1.0), None)


def test_input_splits_are_kept_as_they_are():
    plan = plan_splits("Gen", ["train", "test"], None, None)
    assert plan.names == ("train", "test") and not plan.by_hash


def test_buckets_are_filled_in_proportion_to_their_weights():
    crcs = np.random.default_rng(0).integers(0, 2**32, 300_000, dtype=np.uint64)
    plan = plan_splits("Gen", None, {"a": 0.8, "b": 0.1, "c": 0.1}, None)
    shares = np.bincount(plan.assign(crcs), minlength=3) / len(crcs)
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.005)


def splitmix64(x: int) -> int:
    mask = 2**64 - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_buckets_follow_the_documented_hash():
    plan = plan_splits("Gen", None, {"train": 2, "eval": 1}, None)
    crcs = np.random.default_rng(1).integers(0, 2**32, 1000, dtype=np.uint64)
    bound = int(2 / 3 * 2**32)
    expected = [int((splitmix64(int(c)) >> 32) >= bound) for c in crcs]
    assert plan.assign(crcs).tolist() == expected


def test_bucket_assignment_is_fixed_forever():
    # Changing the hash would move rows between the splits of existing pipelines.
    plan = plan_splits("Gen", None, {"train": 2, "eval": 1}, None)
    crcs = np.array([0, 1, 2, 3, 12345, 2**32 - 1], np.uint32)
    assert plan.assign(crcs).tolist() == [1, 0, 0, 0, 0, 0]


def test_consecutive_checksums_are_scattered_across_buckets():
    plan = plan_splits("Gen", None, {"a": 1, "b": 1}, None)
    assigned = plan.assign(np.arange(10_000, dtype=np.uint32))
    assert 0.45 < assigned.mean() < 0.55


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["train"], {"train": 1}, None), "give either input_splits"),
        ((["train"], None, "id"), "split_column='id' only applies to a split by hash"),
        ((None, {}, None), "output_splits is empty"),
        ((None, {"train": 0}, None), "output_splits['train'] is 0"),
        ((None, {"train": -1.5}, None), "each weight must be a positive number"),
        ((None, {"my split": 1}, None), "has the split name 'my split'"),
        ((["a/b"], None, None), "input_splits has the split name 'a/b'"),
    ],
)
def test_bad_split_options_are_explained(args, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        plan_splits("Gen", *args)
