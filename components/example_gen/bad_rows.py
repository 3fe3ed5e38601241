"""Rows that cannot be read: what they are, how many may be skipped, and the error.

By default one bad row fails the component, naming the file, line and reason. With a
tolerance (``max_bad_rows``: a count, or a fraction of the input rows) bad rows are
skipped, written to ``<examples.uri>/bad_rows/bad_rows.jsonl`` (one JSON object per
line: ``file``, ``line``, ``reason``, ``text``) and counted in the component's result.

Example:
    >>> tolerance = parse_tolerance("Gen", 0.01)
    >>> tolerance.allows(bad=5, total=1000), tolerance.allows(bad=20, total=1000)
    (True, False)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pipeline import DefinitionError, InputDataError

BAD_ROWS_FOLDER = "bad_rows"
BAD_ROWS_FILE = "bad_rows.jsonl"
SHOWN = 5  # bad rows quoted in an error message
_TEXT_LIMIT = 500


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row that was not read.

    Attributes:
        file: The input file.
        line: The line (1-based) where the row starts, or None where unknown (a
            record of a binary file).
        reason: Why it was not read, e.g. "expected 18 fields, got 17".
        text: The row as written (cut after 500 characters).
    """

    file: str
    line: int | None
    reason: str
    text: str

    def to_json(self) -> str:
        """The row as one line of JSON."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    def describe(self) -> str:
        """``file line N: reason: 'text'``, for messages."""
        where = f"{self.file} line {self.line}" if self.line else self.file
        text = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return f"{where}: {self.reason}: {text!r}"


def make_bad_row(file: str, line: int | None, reason: str, text: str | bytes) -> BadRow:
    """A ``BadRow`` with its text decoded (bad bytes replaced) and cut to size."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.rstrip("\r\n")
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + "..."
    return BadRow(file, line, reason, text)


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How many bad rows may be skipped: a count, or a fraction of all input rows."""

    count: int | None = 0
    fraction: float | None = None

    def allows(self, bad: int, total: int) -> bool:
        """True if ``bad`` rows out of ``total`` may be skipped."""
        if self.fraction is not None:
            return bad <= self.fraction * total
        return bad <= self.count

    def describe(self) -> str:
        """The setting as the user wrote it."""
        value = self.fraction if self.fraction is not None else self.count
        return f"max_bad_rows={value!r}"


def parse_tolerance(owner: str, max_bad_rows: Any) -> Tolerance:
    """Reads ``max_bad_rows``: an int is a count, a float in [0, 1] a fraction.

    Raises:
        DefinitionError: Anything else.
    """
    if isinstance(max_bad_rows, bool) or not isinstance(max_bad_rows, (int, float)):
        valid = False
    elif isinstance(max_bad_rows, int):
        valid = max_bad_rows >= 0
    else:
        valid = 0.0 <= max_bad_rows <= 1.0
    if not valid:
        raise DefinitionError(
            f"{owner}: max_bad_rows must be a count (an int >= 0) or a fraction of "
            f"the input rows (a float from 0.0 to 1.0), got {max_bad_rows!r}; e.g. "
            f"max_bad_rows=100 or max_bad_rows=0.001."
        )
    if isinstance(max_bad_rows, float):
        return Tolerance(count=None, fraction=max_bad_rows)
    return Tolerance(count=max_bad_rows)


def too_many_error(
    owner: str, bad: int, shown: list[BadRow], tolerance: Tolerance
) -> InputDataError:
    """The error for bad rows beyond the tolerance, quoting the first of them."""
    lines = [
        f"{owner}: found {bad} bad row(s), more than {tolerance.describe()} "
        f"allows. The first:"
    ]
    lines += [f"  {row.describe()}" for row in shown[:SHOWN]]
    lines.append(
        f"Fix these rows, or let {owner} skip them with max_bad_rows=N (a count) or a "
        f"fraction such as max_bad_rows=0.01; skipped rows are written to "
        f"<examples>/{BAD_ROWS_FOLDER}/{BAD_ROWS_FILE}."
    )
    return InputDataError("\n".join(lines))
