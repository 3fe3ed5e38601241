"""What the example pipelines share: their data, their defaults and their command line.

Each example pipeline lives in ``pipelines/<name>/pipeline.py`` and defines
``create_pipeline(root=..., store=..., **knobs)``; run as a script, it hands that
function to ``main``, which turns every keyword argument into a command-line flag
(``train_steps`` becomes ``--train-steps``), runs the pipeline with the local runner
and prints what each component did.

The data sets are the shared ones beside the repository (``../shared/data`` from the
repository root); ``shared_data`` finds them and says clearly when they are missing.

Example:
    >>> def create_pipeline(root: str = "runs/x", train_steps: int = 100): ...
    >>> sorted(vars(knob_parser(create_pipeline).parse_args(["--train-steps", "7"])))
    ['no_cache', 'root', 'train_steps']
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pipeline import DefinitionError, Pipeline, RunResult, fs

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
#: Where the shared data sets live; ``$MLPIPE_SHARED_DATA`` moves it.
SHARED_DATA = os.environ.get(
    "MLPIPE_SHARED_DATA", os.path.join(REPO, "..", "shared", "data")
)


def shared_data(*parts: str) -> str:
    """Returns the absolute path of a file or folder of the shared data sets.

    Args:
        *parts: The path inside the shared data folder, e.g.
            ``("chicago_taxi", "data.csv")``.

    Returns:
        The absolute path.

    Raises:
        DefinitionError: The file is not there; the message says where it looked
            and how to point elsewhere.

    Example:
        >>> shared_data("iris", "iris_test.csv").endswith("iris_test.csv")
        True
    """
    path = os.path.abspath(os.path.join(SHARED_DATA, *parts))
    if not os.path.exists(path):
        raise DefinitionError(
            f"The example data {os.path.join(*parts)!r} is not at {path}. The example "
            f"pipelines read the shared data sets from ../shared/data beside the "
            f"repository ({os.path.abspath(os.path.join(REPO, '..', 'shared'))}); put "
            f"them there, set MLPIPE_SHARED_DATA to the folder that holds them, or "
            f"pass the pipeline's data knob (e.g. --data path/to/file.csv)."
        )
    return path


def default_root(name: str) -> str:
    """The default pipeline root of example ``name``: ``<repository>/runs/<name>``."""
    return os.path.join(REPO, "runs", name)


def resolve_root(root: str) -> str:
    """An absolute local root, or a URL root (``gs://...``) as it is.

    Example:
        >>> resolve_root("gs://bucket/pipelines/taxi")
        'gs://bucket/pipelines/taxi'
    """
    return root if fs.is_remote(root) else os.path.abspath(root)


def under_root(root: str, *parts: str) -> str:
    """A path inside the root, for local roots and URL roots alike."""
    return fs.join(root, *parts)


def store_url(root: str, store: str | None) -> str:
    """``store`` if given, else an SQLite file in the (local) pipeline root.

    Example:
        >>> store_url("/r/taxi", None)
        'sqlite:////r/taxi/metadata.sqlite'
        >>> store_url("gs://b/taxi", None)
        Traceback (most recent call last):
        ...
        pipeline.errors.DefinitionError: The pipeline root gs://b/taxi is not a local folder, so the SQLite store cannot live in it: pass a store URL (--store), e.g. a PostgreSQL database the launching machine reaches (see docs/dataflow.md).
    """
    if store:
        return store
    if fs.is_remote(root):
        raise DefinitionError(
            f"The pipeline root {root} is not a local folder, so the SQLite store "
            f"cannot live in it: pass a store URL (--store), e.g. a PostgreSQL "
            f"database the launching machine reaches (see docs/dataflow.md)."
        )
    return "sqlite:///" + os.path.join(os.path.abspath(root), "metadata.sqlite")


def knob_parser(create_pipeline: Callable[..., Pipeline]) -> argparse.ArgumentParser:
    """An argument parser with one flag per keyword argument of ``create_pipeline``.

    ``int``, ``float`` and ``str`` knobs take one value, ``bool`` knobs are
    ``--knob``/``--no-knob`` and ``list[int]`` / ``list[str]`` knobs take several.
    ``--no-cache`` runs every component again.

    Args:
        create_pipeline: The pipeline's factory; its annotations give the types.

    Returns:
        The parser; its namespace holds the knobs and ``no_cache``.
    """
    module = sys.modules.get(create_pipeline.__module__)
    summary = (inspect.getdoc(module) or "").split("\n\n")[0] if module else ""
    parser = argparse.ArgumentParser(description=summary)
    hints = typing.get_type_hints(create_pipeline)
    described = _described_args(create_pipeline)
    for param in inspect.signature(create_pipeline).parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            continue
        flag = "--" + param.name.replace("_", "-")
        kind, is_list = _knob_type(hints.get(param.name, str))
        default = param.default if param.default is not param.empty else None
        shown = f" (default: {default})" if default not in (None, "") else ""
        words = described.get(param.name, param.name.replace("_", " "))
        words = words.replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            parser.add_argument(
                flag,
                dest=param.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{words}{shown}",
            )
        else:
            parser.add_argument(
                flag,
                dest=param.name,
                type=kind,
                nargs="+" if is_list else None,
                default=default,
                help=f"{words}{shown}",
            )
    parser.add_argument(
        "--no-cache", action="store_true", help="run every component again"
    )
    return parser


def _described_args(fn: Callable[..., Any]) -> dict[str, str]:
    """The descriptions of the "Args:" section of a Google-style docstring."""
    found: dict[str, str] = {}
    names: list[str] = []
    in_args = False
    for line in (inspect.getdoc(fn) or "").splitlines():
        if line.strip() == "Args:":
            in_args = True
        elif in_args and line and not line.startswith(" "):
            break
        elif in_args and line.startswith("    ") and not line.startswith("     "):
            head, _, text = line.strip().partition(": ")
            names = [name.strip() for name in head.split(",") if name.strip()]
            for name in names:
                found[name] = text
        elif in_args and line.strip() and names:
            for name in names:
                found[name] += " " + line.strip()
    return found


def _knob_type(hint: Any) -> tuple[type, bool]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _knob_type(args[0]) if args else (str, False)
    if typing.get_origin(hint) is list:
        return (args[0] if args else str), True
    return (hint if hint in (int, float, str, bool) else str), False


def main(
    create_pipeline: Callable[..., Pipeline], argv: Sequence[str] | None = None
) -> RunResult:
    """Runs an example pipeline with knobs from the command line and prints a summary.

    Args:
        create_pipeline: The pipeline's factory.
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The run's ``RunResult``.

    Raises:
        PipelineRunError: A component failed.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    knobs = vars(knob_parser(create_pipeline).parse_args(argv))
    no_cache = knobs.pop("no_cache")
    pipeline = create_pipeline(**knobs)
    result = pipeline.run(enable_cache=False if no_cache else None)
    print(summarize(result))
    return result


def summarize(result: RunResult) -> str:
    """A table of a run: each component's state, duration and result.

    Example:
        >>> print(summarize(RunResult("r1", "p", "COMPLETE", {}, {}, 1.5)))
        Run r1 of pipeline 'p': COMPLETE in 1.5 s
    """
    lines = [
        f"Run {result.run_id} of pipeline {result.pipeline_name!r}: {result.state} "
        f"in {result.duration:.1f} s"
    ]
    width = max((len(c) for c in result.executions), default=0)
    for component_id, record in result.executions.items():
        took = f"{record.duration:7.2f}s" if record.duration is not None else "      -"
        if record.result:
            outcome = json.dumps(record.result, default=str)
        elif record.cached_from is not None:
            outcome = f"reused execution {record.cached_from}"
        else:
            outcome = "-"
        if len(outcome) > 100:
            outcome = outcome[:97] + "..."
        lines.append(
            f"  {component_id.ljust(width)}  {record.state.value:<8} {took}  {outcome}"
        )
    return "\n".join(lines)
