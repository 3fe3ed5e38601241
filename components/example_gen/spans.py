"""Input files: a file, folder or glob, split patterns, and spans and versions.

Data that arrives over time lands in numbered spans (and, when a span is rewritten, in
versions of it). Input patterns name them with placeholders, relative to ``input_base``:

- ``{SPAN}``: a span number (digits), e.g. ``"span-{SPAN}/*.csv"``;
- ``{VERSION}``: a version number of a span, e.g. ``"span-{SPAN}/v{VERSION}/*"``;
- ``{YYYY}``, ``{MM}``, ``{DD}``: a date, used instead of ``{SPAN}``; the span number is
  then the day since 1970-01-01, and spans may be given as ``"2024-01-31"``.

The newest span (at its newest version) is read unless a span or a range of spans is
asked for. Every split pattern must have the chosen span and version.

Example:
    >>> import os, tempfile
    >>> base = tempfile.mkdtemp()
    >>> for span in (1, 2):
    ...     os.makedirs(f"{base}/span-{span}")
    ...     open(f"{base}/span-{span}/data.csv", "w").close()
    >>> found = resolve_inputs("Gen", base, pattern="span-{SPAN}/*.csv")
    >>> found.span, [os.path.relpath(p, base) for p in found.files[None]]
    (2, ['span-2/data.csv'])
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from pipeline import DefinitionError, fs

PLACEHOLDERS = {
    "{SPAN}": ("span", r"\d+"),
    "{VERSION}": ("version", r"\d+"),
    "{YYYY}": ("year", r"\d{4}"),
    "{MM}": ("month", r"\d{2}"),
    "{DD}": ("day", r"\d{2}"),
}
_DATE = ("{YYYY}", "{MM}", "{DD}")
_EPOCH = datetime.date(1970, 1, 1)
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclasses.dataclass(frozen=True)
class InputSelection:
    """The input files an ExampleGen reads.

    Attributes:
        files: Each input split's files, sorted (the key is None for an input
            without splits of its own).
        span: The newest span read, when the patterns have spans.
        version: That span's version, when the patterns have versions.
        spans: Every span read, oldest first.
    """

    files: dict[str | None, list[str]]
    span: int | None = None
    version: int | None = None
    spans: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Pattern:
    text: str
    regex: re.Pattern
    glob: str
    dated: bool
    spanned: bool
    versioned: bool


def _compile(owner: str, text: str) -> _Pattern:
    unknown = [
        token for token in re.findall(r"\{[^{}]*\}", text) if token not in PLACEHOLDERS
    ]
    if unknown:
        raise DefinitionError(
            f"{owner}: the input pattern {text!r} has the unknown placeholder(s) "
            f"{unknown}; the placeholders are {', '.join(PLACEHOLDERS)}."
        )
    dated = [p for p in _DATE if p in text]
    if dated and len(dated) < 3:
        raise DefinitionError(
            f"{owner}: the input pattern {text!r} has {', '.join(dated)} but a date "
            f"needs all of {{YYYY}}, {{MM}} and {{DD}}."
        )
    if dated and "{SPAN}" in text:
        raise DefinitionError(
            f"{owner}: the input pattern {text!r} has both {{SPAN}} and a date; a "
            f"date is the span, so use one or the other."
        )
    if "{VERSION}" in text and not (dated or "{SPAN}" in text):
        raise DefinitionError(
            f"{owner}: the input pattern {text!r} has {{VERSION}} but no {{SPAN}} "
            f"or date; versions number the rewrites of a span."
        )
    parts, seen = [], set()
    tokens = re.split(r"(\{[A-Z]+\}|\*+|\?|\[[^\]]*\])", text)
    for token in tokens:
        if token in PLACEHOLDERS:
            group, digits = PLACEHOLDERS[token]
            parts.append(f"(?P={group})" if group in seen else f"(?P<{group}>{digits})")
            seen.add(group)
        elif token.startswith("*"):
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        elif token.startswith("[") and token.endswith("]") and len(token) > 2:
            parts.append("[^" + token[2:] if token.startswith("[!") else token)
        else:
            parts.append(re.escape(token))
    glob = text
    for token in PLACEHOLDERS:
        glob = glob.replace(token, "*")
    return _Pattern(
        text,
        re.compile("".join(parts) + r"\Z"),
        glob,
        bool(dated),
        "{SPAN}" in text,
        "{VERSION}" in text,
    )


def _span_number(owner: str, value: int | str, dated: bool, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if dated and isinstance(value, str):
        try:
            return (datetime.date.fromisoformat(value) - _EPOCH).days
        except ValueError:
            pass
    expected = (
        "a date 'YYYY-MM-DD' or a day number" if dated else "a span number (int >= 0)"
    )
    raise DefinitionError(f"{owner}: {what} must be {expected}, got {value!r}.")


def _files_in(owner: str, base: str) -> list[str]:
    if fs.isdir(base):
        names = [n for n in fs.listdir(base) if not n.startswith((".", "_"))]
        files = [fs.join(base, n) for n in names if not fs.isdir(fs.join(base, n))]
        if not files:
            raise DefinitionError(
                f"{owner}: the input folder {base!r} holds no data files (names "
                f"starting with '.' or '_' are skipped). Put the files there or point "
                f"input_base at them."
            )
        return files
    if fs.exists(base):
        return [base]
    files = (
        [p for p in fs.glob(base) if not fs.isdir(p)]
        if _GLOB_CHARS.search(base)
        else []
    )
    if not files:
        raise DefinitionError(
            f"{owner}: input_base {base!r} matches no file or folder. Give a file, a "
            f"folder of files or a glob such as 'data/*.csv' (relative paths are taken "
            f"from the current folder)."
        )
    return files


def _match(owner: str, base: str, pattern: _Pattern, split: str | None):
    """[(span, version, path)] of the files under ``base`` that match ``pattern``."""
    if not fs.isdir(base):
        raise DefinitionError(
            f"{owner}: input_base {base!r} must be a folder when input patterns are "
            f"given (they are relative to it)."
        )
    prefix = fs.join(base, "")
    found = []
    for path in fs.glob(fs.join(base, pattern.glob)):
        if fs.isdir(path) or not path.startswith(prefix):
            continue
        match = pattern.regex.match(path[len(prefix) :])
        if not match:
            continue
        groups = match.groupdict()
        span = None
        if pattern.dated:
            try:
                day = datetime.date(
                    int(groups["year"]), int(groups["month"]), int(groups["day"])
                )
            except ValueError:
                continue
            span = (day - _EPOCH).days
        elif pattern.spanned:
            span = int(groups["span"])
        version = int(groups["version"]) if pattern.versioned else None
        found.append((span, version, path))
    if not found:
        where = f" for split {split!r}" if split else ""
        raise DefinitionError(
            f"{owner}: no input files match {fs.join(base, pattern.text)!r}{where}. "
            f"Check the pattern (it is relative to input_base; {{SPAN}}, {{VERSION}} "
            f"and {{YYYY}}{{MM}}{{DD}} match digits)."
        )
    return found


def resolve_inputs(
    owner: str,
    input_base: str,
    *,
    pattern: str | None = None,
    input_splits: dict[str, str] | None = None,
    span: int | str | None = None,
    span_range: list | None = None,
    version: int | None = None,
) -> InputSelection:
    """Finds the files to read, choosing the span and version when there are any.

    Args:
        owner: The component's name, for messages.
        input_base: A file, a folder of files, or a glob; the folder that patterns
            are relative to.
        pattern: One pattern under ``input_base`` (with placeholders, for spans).
        input_splits: A pattern per split name, for input that is already split.
        span: The span to read (default: the newest).
        span_range: ``[first, last]``: every span in the range, inclusive.
        version: The version to read (default: the newest of the span).

    Returns:
        The files per input split, and the span and version read.

    Raises:
        DefinitionError: A bad pattern or option, or no files to read.
    """
    if pattern is not None and input_splits:
        raise DefinitionError(
            f"{owner}: give either pattern (one input) or input_splits (a pattern per "
            f"split), not both."
        )
    if span is not None and span_range is not None:
        raise DefinitionError(f"{owner}: give either span or span_range, not both.")
    if span_range is not None and (
        not isinstance(span_range, (list, tuple)) or len(span_range) != 2
    ):
        raise DefinitionError(
            f"{owner}: span_range must be [first, last], got {span_range!r}."
        )
    if version is not None and span_range is not None:
        raise DefinitionError(
            f"{owner}: version applies to one span; with span_range each span is read "
            f"at its newest version."
        )
    patterns = dict(input_splits) if input_splits else {None: pattern}
    if all(p is None for p in patterns.values()):
        if span is not None or span_range is not None or version is not None:
            raise DefinitionError(
                f"{owner}: span, span_range and version need an input pattern with "
                f"{{SPAN}} (or a date), e.g. pattern='span-{{SPAN}}/*.csv'."
            )
        return InputSelection({None: _files_in(owner, input_base)})
    compiled = {}
    for split, text in patterns.items():
        if not isinstance(text, str) or not text:
            raise DefinitionError(
                f"{owner}: the input pattern for split {split!r} must be a non-empty "
                f"string relative to input_base, got {text!r}."
            )
        compiled[split] = _compile(owner, text)
    kinds = {(p.dated, p.spanned, p.versioned) for p in compiled.values()}
    if len(kinds) > 1:
        raise DefinitionError(
            f"{owner}: the split patterns {list(patterns.values())} use different "
            f"placeholders; every split must be laid out the same way."
        )
    first = next(iter(compiled.values()))
    if version is not None and not first.versioned:
        raise DefinitionError(
            f"{owner}: version={version!r} needs {{VERSION}} in the input pattern; "
            f"{first.text!r} has none."
        )
    found = {
        split: _match(owner, input_base, p, split) for split, p in compiled.items()
    }
    if not (first.dated or first.spanned):
        if span is not None or span_range is not None or version is not None:
            raise DefinitionError(
                f"{owner}: span, span_range and version need {{SPAN}} (or a date) in "
                f"the input pattern; {first.text!r} has none."
            )
        return InputSelection(
            {
                split: sorted(path for _, _, path in entries)
                for split, entries in found.items()
            }
        )
    available = {split: {s for s, _, _ in entries} for split, entries in found.items()}
    first_split = next(iter(found))
    if span is not None:
        chosen = [_span_number(owner, span, first.dated, "span")]
    elif span_range is not None:
        lo, hi = (_span_number(owner, v, first.dated, "span_range") for v in span_range)
        chosen = sorted(s for s in available[first_split] if lo <= s <= hi)
        if not chosen:
            raise DefinitionError(
                f"{owner}: no span in span_range {list(span_range)}; the input has "
                f"spans {sorted(available[first_split])}."
            )
    else:
        chosen = [max(available[first_split])]
    files: dict[str | None, list[str]] = {split: [] for split in found}
    versions = {}
    for s in chosen:
        for split, spans in available.items():
            if s not in spans:
                where = f"split {split!r}" if split else "the input"
                raise DefinitionError(
                    f"{owner}: span {s} is missing from {where} (pattern "
                    f"{compiled[split].text!r}); it has spans {sorted(spans)}."
                )
        if first.versioned:
            have = {
                split: {v for sp, v, _ in entries if sp == s}
                for split, entries in found.items()
            }
            want = version if version is not None else max(have[first_split])
            for split, got in have.items():
                if want not in got:
                    raise DefinitionError(
                        f"{owner}: span {s} has no version {want} in "
                        f"{'split ' + repr(split) if split else 'the input'}; it has "
                        f"versions {sorted(got)}."
                    )
            versions[s] = want
        for split, entries in found.items():
            files[split].extend(
                path
                for sp, v, path in entries
                if sp == s and (not first.versioned or v == versions[s])
            )
    newest = max(chosen)
    return InputSelection(
        {split: sorted(paths) for split, paths in files.items()},
        newest,
        versions.get(newest),
        tuple(chosen),
    )
