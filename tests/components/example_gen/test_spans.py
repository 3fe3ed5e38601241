"""spans.py: finding input files, choosing spans and versions."""

import os
import re

import pytest

from components.example_gen.spans import resolve_inputs
from pipeline import DefinitionError


def make(base, *paths):
    for path in paths:
        full = base / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text("x\n1\n")


def names(base, files):
    return [os.path.relpath(p, base) for p in files]


def test_a_file_a_folder_and_a_glob(tmp_path):
    make(tmp_path, "a.csv", "b.csv", "notes.txt", ".hidden", "_SUCCESS", "sub/c.csv")
    assert names(
        tmp_path, resolve_inputs("G", str(tmp_path / "a.csv")).files[None]
    ) == ["a.csv"]
    assert names(tmp_path, resolve_inputs("G", str(tmp_path)).files[None]) == [
        "a.csv",
        "b.csv",
        "notes.txt",
    ]
    assert names(
        tmp_path, resolve_inputs("G", str(tmp_path / "*.csv")).files[None]
    ) == [
        "a.csv",
        "b.csv",
    ]


def test_the_newest_span_is_read_by_default(tmp_path):
    make(tmp_path, "span-1/a.csv", "span-2/a.csv", "span-10/a.csv", "span-10/b.csv")
    found = resolve_inputs("G", str(tmp_path), pattern="span-{SPAN}/*.csv")
    assert found.span == 10 and found.version is None and found.spans == (10,)
    assert names(tmp_path, found.files[None]) == ["span-10/a.csv", "span-10/b.csv"]


def test_a_span_or_a_range_of_spans(tmp_path):
    make(tmp_path, *(f"span-{s}/a.csv" for s in (1, 2, 3, 4)))
    one = resolve_inputs("G", str(tmp_path), pattern="span-{SPAN}/*", span=2)
    assert names(tmp_path, one.files[None]) == ["span-2/a.csv"]
    some = resolve_inputs(
        "G", str(tmp_path), pattern="span-{SPAN}/*", span_range=[2, 3]
    )
    assert some.spans == (2, 3) and some.span == 3
    assert names(tmp_path, some.files[None]) == ["span-2/a.csv", "span-3/a.csv"]


def test_the_newest_version_of_the_span_unless_one_is_asked_for(tmp_path):
    make(tmp_path, "s1/v1/a", "s2/v1/a", "s2/v3/a", "s2/v2/a")
    newest = resolve_inputs("G", str(tmp_path), pattern="s{SPAN}/v{VERSION}/*")
    assert (newest.span, newest.version) == (2, 3)
    assert names(tmp_path, newest.files[None]) == ["s2/v3/a"]
    older = resolve_inputs(
        "G", str(tmp_path), pattern="s{SPAN}/v{VERSION}/*", version=1
    )
    assert names(tmp_path, older.files[None]) == ["s2/v1/a"]


def test_dates_are_spans_counted_in_days(tmp_path):
    make(tmp_path, "2024-01-30/a.csv", "2024-02-01/a.csv", "2024-13-01/a.csv")
    found = resolve_inputs("G", str(tmp_path), pattern="{YYYY}-{MM}-{DD}/*.csv")
    assert found.span == 19754  # 2024-02-01 (the invalid month 13 is no date)
    by_date = resolve_inputs(
        "G", str(tmp_path), pattern="{YYYY}-{MM}-{DD}/*.csv", span="2024-01-30"
    )
    assert names(tmp_path, by_date.files[None]) == ["2024-01-30/a.csv"]


def test_every_split_must_have_the_chosen_span(tmp_path):
    make(tmp_path, "train/1/a", "train/2/a", "eval/1/a")
    splits = {"train": "train/{SPAN}/*", "eval": "eval/{SPAN}/*"}
    with pytest.raises(
        DefinitionError, match=re.escape("span 2 is missing from split 'eval'")
    ):
        resolve_inputs("G", str(tmp_path), input_splits=splits)
    found = resolve_inputs("G", str(tmp_path), input_splits=splits, span=1)
    assert {k: names(tmp_path, v) for k, v in found.files.items()} == {
        "train": ["train/1/a"],
        "eval": ["eval/1/a"],
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pattern": "span-{DATE}/*"}, "unknown placeholder(s) ['{DATE}']"),
        ({"pattern": "{YYYY}/{MM}/*"}, "a date needs all of {YYYY}, {MM} and {DD}"),
        ({"pattern": "{YYYY}{MM}{DD}-{SPAN}"}, "both {SPAN} and a date"),
        ({"pattern": "v{VERSION}/*"}, "has {VERSION} but no {SPAN}"),
        ({"pattern": "span-{SPAN}/*", "span": 9}, "span 9 is missing from the input"),
        (
            {"pattern": "span-{SPAN}/*", "span_range": [5, 8]},
            "no span in span_range [5, 8]",
        ),
        (
            {"pattern": "span-{SPAN}/*", "span": 1, "span_range": [1, 1]},
            "either span or span_range",
        ),
        (
            {"pattern": "span-{SPAN}/*", "version": 2},
            "needs {VERSION} in the input pattern",
        ),
        ({"span": 1}, "need an input pattern with {SPAN}"),
        ({"pattern": "nothing-*"}, "no input files match"),
    ],
)
def test_bad_patterns_and_spans_are_explained(tmp_path, options, message):
    make(tmp_path, "span-1/a.csv")
    with pytest.raises(DefinitionError, match=re.escape(message)):
        resolve_inputs("G", str(tmp_path), **options)


def test_a_missing_input_is_explained(tmp_path):
    with pytest.raises(DefinitionError, match="matches no file or folder"):
        resolve_inputs("G", str(tmp_path / "nope.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DefinitionError, match="holds no data files"):
        resolve_inputs("G", str(tmp_path / "empty"))
