"""The ``mlpipe`` command: run pipelines and read what runs recorded.

``mlpipe --help`` imports neither SQLAlchemy, TensorFlow nor Beam; the read-only
commands (``runs``, ``show``, ``lineage``, ``components``) import SQLAlchemy but never
TensorFlow or Beam, and never create a store; a run imports TensorFlow or Beam only
when a component that needs them executes.

Exit status: 0 when the command did its work, 1 when a run ended with a failed
component, 2 for a usage or definition error (bad arguments, a pipeline file that
defines no pipeline, a store or pipeline root that cannot be used, an unknown id),
130 after Ctrl-C and 143 after SIGTERM.

Example:
    $ mlpipe run pipelines/demo.py           # run a pipeline file
    $ mlpipe runs                            # recent runs with status and duration
    $ mlpipe show latest                     # the newest run, component by component
    $ mlpipe show 12                         # artifact 12
    $ mlpipe lineage 12 --downstream         # what was built from artifact 12
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The runner records a failure as the whole chain, the framework's ExecutionError last;
# `show` prints the user's part of it.
_WRAPPER_MARKER = (
    "\n\nThe above exception was the direct cause of the following exception:\n"
)


class Terminated(SystemExit):
    """Raised in the main thread when ``mlpipe run`` receives SIGTERM.

    It unwinds like Ctrl-C, so the running component is recorded as FAILED
    ("interrupted: Terminated") and its outputs are abandoned and deleted, instead of
    being left RUNNING for a later run to reclaim.
    """


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    store_help = (
        "metadata store: a SQLAlchemy URL (sqlite:///path/metadata.sqlite, "
        "postgresql+psycopg://user:password@host/db) or a SQLite file path"
    )
    parser = argparse.ArgumentParser(
        prog="mlpipe",
        description="Run ML pipelines and inspect their runs, artifacts and lineage.",
        epilog="The store is --store if given, else (for run) the pipeline's own, else "
        "$MLPIPE_STORE, else $MLPIPE_HOME/metadata.sqlite (MLPIPE_HOME defaults to "
        "~/.mlpipe). Exit status: 0 ok, 1 a run failed, 2 a usage or definition error.",
    )
    verbose_help = "log debug details and show full tracebacks"
    parser.add_argument("--store", help=store_help)
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    # The same options after the command name; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, help=store_help)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help=verbose_help,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", parents=[common], help="run a pipeline file")
    run.add_argument(
        "pipeline_file", help="a .py file with create_pipeline() or a Pipeline"
    )
    run.add_argument("--pipeline", help="which pipeline, when the file defines several")
    run.add_argument(
        "--no-cache", action="store_true", help="run every component afresh"
    )
    run.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a Beam pipeline option, e.g. --beam-arg=--direct_num_workers=2 "
        "(repeatable; added after the pipeline's own)",
    )
    run.add_argument("--root", help="the pipeline root, over the pipeline's own")
    run.add_argument(
        "--parallelism",
        type=_positive_int,
        default=1,
        help="how many independent components may run at once (default 1)",
    )
    run.add_argument(
        "--orchestrator",
        choices=["local", "beam"],
        default="local",
        help="what runs the components: 'local', this process (default), or 'beam', "
        "the whole pipeline as one Beam pipeline (BeamDagRunner)",
    )
    _add_dataflow_flags(run)

    runs = commands.add_parser(
        "runs", parents=[common], help="list recent runs, newest first"
    )
    runs.add_argument("--pipeline", help="only runs of this pipeline")
    runs.add_argument(
        "--limit", type=_positive_int, default=20, help="how many (default 20)"
    )
    runs.add_argument("--json", action="store_true", help="print JSON")

    show = commands.add_parser(
        "show", parents=[common], help="show a run (id or 'latest') or an artifact (id)"
    )
    show.add_argument("target", help="a run id, 'latest', or an artifact id (a number)")
    show.add_argument("--json", action="store_true", help="print JSON")

    lineage = commands.add_parser(
        "lineage", parents=[common], help="what produced an artifact, or came from it"
    )
    lineage.add_argument("artifact_id", type=int, help="an artifact id")
    lineage.add_argument(
        "--downstream",
        action="store_true",
        help="what was built from it (default: what it was built from)",
    )
    lineage.add_argument("--json", action="store_true", help="print JSON")

    commands.add_parser(
        "components", parents=[common], help="list the registered components"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``mlpipe`` command line.

    Args:
        argv: The arguments after ``mlpipe``; None reads ``sys.argv``.

    Returns:
        The exit status: 0 ok, 1 a run failed, 2 a usage or definition error.

    Example:
        >>> import os, tempfile
        >>> from pipeline import MetadataStore
        >>> path = os.path.join(tempfile.mkdtemp(), "metadata.sqlite")
        >>> MetadataStore(path).close()
        >>> main(["runs", "--store", path])  # doctest: +ELLIPSIS
        No runs recorded in sqlite:///.../metadata.sqlite.
        0
    """
    args = _parser().parse_args(_join_beam_args(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from pipeline.errors import MlpipeError, PipelineRunError

    handler = {
        "run": _run,
        "runs": _runs,
        "show": _show,
        "lineage": _lineage,
        "components": _components,
    }[args.command]
    try:
        return handler(args)
    except PipelineRunError as exc:
        _print_run_error(exc, verbose=args.verbose)
        return EXIT_RUN_FAILED
    except MlpipeError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        if exc.__cause__ is not None and args.verbose:
            traceback.print_exception(exc.__cause__)
        return EXIT_USAGE
    except Terminated:
        print(
            "mlpipe: terminated (SIGTERM); the run is recorded as FAILED.",
            file=sys.stderr,
        )
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("mlpipe: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _join_beam_args(argv: Sequence[str]) -> list[str]:
    # argparse takes the value in `--beam-arg --direct_num_workers=2` for an option of
    # its own; a Beam option always starts with '-', so join them: `--beam-arg=...`.
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--beam-arg":
            joined[-1] = f"--beam-arg={arg}"
        else:
            joined.append(arg)
    return joined


def _print_run_error(exc: Any, *, verbose: bool) -> None:
    print(f"mlpipe: {exc}", file=sys.stderr)
    for component_id, error in exc.failures.items():
        cause = error.__cause__
        if cause is None:
            continue
        print(f"\nError in component {component_id!r}:", file=sys.stderr)
        text = (
            "".join(traceback.format_exception(cause))
            if verbose
            else _user_traceback(cause)
        )
        print(text.rstrip(), file=sys.stderr)


def _user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from the first frame outside the framework on."""
    summary = traceback.TracebackException.from_exception(exc)
    frames = list(summary.stack)
    first = next(
        (
            i
            for i, frame in enumerate(frames)
            if not frame.filename.startswith(_PACKAGE_DIR)
        ),
        None,
    )
    if first is None:
        # Raised by the framework itself: its frames tell users nothing, its message does.
        return "".join(summary.format_exception_only())
    summary.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(summary.format())


# ------------------------------------------------------------------- the store


def _sqlite_file(raw: str) -> Path | None:
    """The file behind a SQLite store URL or path; None for other stores."""
    if "://" not in raw:
        return Path(raw).expanduser() if raw.strip() else None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        return None  # MetadataStore explains what is wrong with the URL
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)


def _open_existing_store(args: argparse.Namespace) -> Any:
    """Opens the store for reading; never creates one (a typo must not make a file)."""
    from pipeline.errors import MetadataStoreError
    from pipeline.metadata import MetadataStore, default_store_url

    raw = args.store or default_store_url()
    path = _sqlite_file(raw)
    where = "--store" if args.store else "MLPIPE_STORE or MLPIPE_HOME"
    if path is not None and not path.exists():
        raise MetadataStoreError(
            f"No metadata store at {path}: the file does not exist, so nothing has run "
            f"with this store. Check {where}, or run a pipeline first: mlpipe run FILE."
        )
    # SQLite takes an empty file for an empty database and would create the tables.
    if path is not None and path.is_file() and path.stat().st_size == 0:
        raise MetadataStoreError(
            f"No metadata store at {path}: the file is empty. Check {where}."
        )
    return MetadataStore(raw)


# ---------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from pipeline import fs
    from pipeline.errors import DefinitionError
    from pipeline.loader import load_pipeline
    from pipeline.metadata import MetadataStore
    from pipeline.runners.dataflow_options import prepare_dataflow
    from pipeline.runners.local import LocalRunner

    if args.orchestrator == "beam" and args.parallelism != 1:
        raise DefinitionError(
            "--parallelism is for --orchestrator local; with --orchestrator beam the "
            "Beam runner decides what runs at once."
        )
    root = None
    if args.root:
        root = args.root if fs.is_remote(args.root) else os.path.abspath(args.root)
    pipeline = load_pipeline(args.pipeline_file, args.pipeline, root=root)
    beam_args = [*args.beam_arg, *_runner_args(args, pipeline.beam_pipeline_args)]
    launch = prepare_dataflow(pipeline, beam_args)
    if launch is not None:
        atexit.register(launch.cleanup)
        beam_args += launch.beam_args
    target = args.store or pipeline.store
    # The root is checked before the store is opened, so a bad root leaves no new store
    # file; a store that cannot be opened then takes back the folders made for the root.
    created = _missing_folders(pipeline.root)
    fs.check_writable(pipeline.root)
    try:
        store = target if isinstance(target, MetadataStore) else MetadataStore(target)
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    options: dict[str, Any] = dict(
        store=store,
        enable_cache=False if args.no_cache else None,
        beam_pipeline_args=beam_args,
    )
    if args.orchestrator == "beam":
        from pipeline.runners.beam import BeamDagRunner

        runner: Any = BeamDagRunner(**options)
    else:
        runner = LocalRunner(parallelism=args.parallelism, **options)
    try:
        with _terminate_on_sigterm():
            try:
                result = runner.run(pipeline)
            except Exception as exc:
                run_id = getattr(exc, "run_id", None)
                if run_id:
                    _print_run(store, run_id, errors=False)
                raise
        _print_run(store, result.run_id, errors=False)
    finally:
        if store is not target:
            store.close()
    return EXIT_OK


_DATAFLOW_FLAGS = (
    "project",
    "region",
    "temp_location",
    "staging_location",
    "service_account_email",
)


def _runner_name(text: str) -> str:
    name = text.strip().lower().removesuffix("runner")
    if name not in ("local", "dataflow"):
        raise argparse.ArgumentTypeError(
            f"expected 'local' or 'dataflow', got {text!r} (other Beam runners: "
            f"--beam-arg=--runner=NAME)"
        )
    return name


def _add_dataflow_flags(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "Dataflow",
        "where the components' Beam jobs run; --runner dataflow sends them to Google "
        "Cloud Dataflow, with mlpipe and the pipeline's module files packaged for the "
        "workers (see docs/dataflow.md). Other Dataflow options: --beam-arg, e.g. "
        "--beam-arg=--max_num_workers=10",
    )
    group.add_argument(
        "--runner",
        type=_runner_name,
        metavar="{local,dataflow}",
        help="'local': Beam's FnApiRunner in this process (the default), or "
        "'dataflow': DataflowRunner (needs --project, --region, --temp-location and "
        "a gs:// --root)",
    )
    group.add_argument("--project", help="the Google Cloud project id")
    group.add_argument("--region", help="the Dataflow region, e.g. us-central1")
    group.add_argument(
        "--temp-location",
        metavar="GS_URL",
        help="a gs:// folder for the jobs' temporary files",
    )
    group.add_argument(
        "--staging-location",
        metavar="GS_URL",
        help="a gs:// folder for the workers' packages (default: "
        "<temp-location>/staging)",
    )
    group.add_argument(
        "--service-account-email",
        metavar="EMAIL",
        help="the workers' service account (default: the project's Compute Engine "
        "default service account)",
    )


def _runner_args(args: argparse.Namespace, pipeline_args: list[str]) -> list[str]:
    """The Beam options of --runner and the Dataflow flags, after --beam-arg's."""
    from pipeline.errors import DefinitionError
    from pipeline.runners.dataflow_options import RUNNER, is_dataflow

    given = [name for name in _DATAFLOW_FLAGS if getattr(args, name)]
    dataflow = args.runner == "dataflow" or (
        args.runner is None and is_dataflow([*pipeline_args, *args.beam_arg])
    )
    if given and not dataflow:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise DefinitionError(
            f"{flags} {'is' if len(given) == 1 else 'are'} for Dataflow, but the "
            f"components' Beam jobs run "
            f"{'locally' if args.runner == 'local' else 'locally (the default)'}. "
            f"Add --runner dataflow, or leave {flags} out."
        )
    if args.runner == "local":
        # Over whatever runner the pipeline's own options name.
        return ["--runner=FnApiRunner"]
    beam_args = [f"--runner={RUNNER}"] if args.runner == "dataflow" else []
    return beam_args + [
        f"--{name}={getattr(args, name)}"
        for name in _DATAFLOW_FLAGS
        if getattr(args, name)
    ]


def _missing_folders(root: str) -> list[str]:
    """The folders that creating ``root`` would make, deepest first."""
    from pipeline import fs

    if fs.is_remote(root):
        return []
    missing = []
    folder = os.path.abspath(root)
    while not os.path.exists(folder) and folder != os.path.dirname(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------- runs


def _time(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _runs(args: argparse.Namespace) -> int:
    with _open_existing_store(args) as store:
        runs = store.list_runs(pipeline_name=args.pipeline, limit=args.limit)
        if args.json:
            print(json.dumps([_run_dict(r) for r in runs], indent=2))
            return EXIT_OK
        if not runs:
            which = f" of pipeline {args.pipeline!r}" if args.pipeline else ""
            print(f"No runs{which} recorded in {store.url}.")
            return EXIT_OK
        rows = [
            [
                r.run_id,
                r.pipeline_name,
                r.state.value,
                _time(r.start_time),
                _seconds(r.duration),
            ]
            for r in runs
        ]
        print(_table(rows, ["RUN", "PIPELINE", "STATE", "STARTED", "DURATION"]))
    return EXIT_OK


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline_name,
        "state": run.state.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration": run.duration,
        "properties": run.properties,
    }


# --------------------------------------------------------------------- show


def _show(args: argparse.Namespace) -> int:
    with _open_existing_store(args) as store:
        if args.target.isdigit():
            return _show_artifact(store, int(args.target), args.json)
        run_id = args.target
        if run_id == "latest":
            latest = store.list_runs(limit=1)
            if not latest:
                if args.json:
                    print("null")
                else:
                    print(f"No runs recorded in {store.url}.")
                return EXIT_OK
            run_id = latest[0].run_id
        if args.json:
            print(json.dumps(_run_json(store, run_id), indent=2))
        else:
            _print_run(store, run_id, errors=True)
    return EXIT_OK


def _run_json(store: Any, run_id: str) -> dict[str, Any]:
    data = _run_dict(store.get_run(run_id))
    data["executions"] = [
        {
            **e.to_dict(),
            "duration": e.duration,
            "outputs": {n: a.to_dict() for n, a in store.outputs_of(e.id).items()},
        }
        for e in store.executions_of_run(run_id)
    ]
    return data


def _result(store: Any, execution: Any) -> dict[str, Any] | None:
    if execution.result is None and execution.cached_from is not None:
        return store.get_execution(execution.cached_from).result
    return execution.result


def _print_run(store: Any, run_id: str, *, errors: bool) -> None:
    run = store.get_run(run_id)
    executions = store.executions_of_run(run_id)
    print(
        f"Run {run.run_id} of pipeline {run.pipeline_name!r}: {run.state.value}, "
        f"started {_time(run.start_time)}, took {_seconds(run.duration)}"
    )
    if "root" in run.properties:
        print(f"Root: {run.properties['root']}")
    print(f"Store: {store.url}\n")
    rows, artifacts = [], []
    for e in executions:
        result = _result(store, e)
        note = f"reused execution {e.cached_from}" if e.cached_from else ""
        rows.append(
            [
                e.component_id,
                e.component_type,
                e.state.value,
                str(e.id),
                _seconds(e.duration),
                "-" if result is None else json.dumps(result),
                note,
            ]
        )
        for name, artifact in store.outputs_of(e.id).items():
            artifacts.append(
                [
                    f"{e.component_id}.{name}",
                    str(artifact.id),
                    artifact.TYPE_NAME,
                    artifact.state.value,
                    artifact.uri,
                ]
            )
    header = ["COMPONENT", "TYPE", "STATE", "EXEC", "DURATION", "RESULT", "NOTE"]
    print(_table(rows, header) if rows else "No component has started.")
    if artifacts:
        print()
        print(_table(artifacts, ["OUTPUT", "ARTIFACT", "TYPE", "STATE", "URI"]))
    if not errors:
        return
    for e in executions:
        if e.error:
            print(f"\n{e.component_id} {e.state.value}:")
            print(_indent(_user_part(e.error)))


def _user_part(error: str) -> str:
    head, marker, tail = error.rstrip().rpartition(_WRAPPER_MARKER)
    if marker and "pipeline.errors.ExecutionError: " in tail:
        return head
    return error.rstrip()


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else line for line in text.splitlines())


def _show_artifact(store: Any, artifact_id: int, as_json: bool) -> int:
    artifact = store.get_artifact(artifact_id)
    producer = store.producer_of(artifact_id)
    consumers = store.consumers_of(artifact_id)
    if as_json:
        data = artifact.to_dict()
        data["producer"] = producer.to_dict() if producer else None
        data["consumers"] = [c.to_dict() for c in consumers]
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(f"{artifact.TYPE_NAME} #{artifact.id}  {artifact.state.value}")
    print(f"  uri: {artifact.uri}")
    for name, value in sorted(artifact.properties.items()):
        print(f"  {name}: {json.dumps(value)}")
    if producer:
        print(
            f"  produced by: {producer.component_id} (execution {producer.id}, "
            f"{producer.component_type}, {producer.state.value}, run {producer.run_id})"
        )
    for consumer in consumers:
        print(
            f"  read by: {consumer.component_id} (execution {consumer.id}, "
            f"{consumer.state.value}, run {consumer.run_id})"
        )
    if not consumers:
        print("  read by: nothing yet")
    if artifact.TYPE_NAME == "ModelEvaluation":
        _print_evaluation(store, artifact, producer)
    return EXIT_OK


_EVALUATION_ROWS = 50


def _print_evaluation(store: Any, evaluation: Any, producer: Any) -> None:
    """The blessing verdict and the metrics table of an Evaluator's output."""
    from pipeline import fs

    path = fs.join(evaluation.uri, "metrics.json")
    try:
        document = json.loads(fs.read_text(path))
        entries = [document["overall"], *document["slices"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"  metrics: cannot be read from {path}: {type(exc).__name__}: {exc}")
        return
    blessing = None
    if producer is not None:
        blessing = next(
            (
                a
                for a in store.outputs_of(producer.id).values()
                if a.TYPE_NAME == "ModelBlessing"
            ),
            None,
        )
    if blessing is not None and "blessed" in blessing.properties:
        blessed = blessing.properties["blessed"]
        reasons = blessing.properties.get("reasons", [])
        where = f" (ModelBlessing #{blessing.id})"
    else:
        blessed, reasons = document.get("blessed"), document.get("reasons", [])
        where = " (from metrics.json)"
    if blessed is not None:
        print(f"  blessing: {'BLESSED' if blessed else 'NOT BLESSED'}{where}")
        for reason in reasons:
            print(f"    {reason}")
    baseline = document.get("baseline")
    print(
        f"\nMetrics of split {document.get('split')!r}, model "
        f"{document.get('model', {}).get('uri')}"
        + (f", baseline {baseline['uri']}" if baseline else "")
        + ":"
    )
    names = [n for n in entries[0]["metrics"] if n != "example_count"]
    rows = []
    base = document.get("baseline_metrics")
    labelled = [("Overall", entries[0])]
    if base:
        labelled.append(("Overall (baseline)", base["overall"]))
    labelled += [
        (", ".join(f"{k}={v}" for k, v in e["slice"].items()), e)
        for e in entries[1 : 1 + _EVALUATION_ROWS]
    ]
    for label, entry in labelled:
        metrics = entry["metrics"]
        rows.append(
            [label, str(metrics.get("example_count", "-"))]
            + [_metric(metrics.get(name)) for name in names]
        )
    print(_table(rows, ["slice", "example_count", *names]))
    if len(entries) - 1 > _EVALUATION_ROWS:
        print(f"... and {len(entries) - 1 - _EVALUATION_ROWS} more slices in {path}")


def _metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


# ------------------------------------------------------------ lineage and more


def _lineage(args: argparse.Namespace) -> int:
    with _open_existing_store(args) as store:
        graph = (
            store.downstream(args.artifact_id)
            if args.downstream
            else store.upstream(args.artifact_id)
        )
        print(json.dumps(graph.to_dict(), indent=2) if args.json else graph.render())
    return EXIT_OK


def _components(args: argparse.Namespace) -> int:
    from pipeline import registry

    found = registry.components()
    if not found:
        print("No components registered.")
    for name, origin in found.items():
        print(f"{name}  ({origin})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
