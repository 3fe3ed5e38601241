"""CsvExampleGen and Transform wall time with 1 vs 2 local DirectRunner workers.

On the taxi-like CSV of ``make_taxi_data.py`` (written once, then reused), two
components, each in two local modes of Beam's FnApiRunner:

- ``1 worker``: ``--direct_running_mode=in_memory`` (the default for these sizes);
- ``2 workers``: ``--direct_running_mode=multi_processing --direct_num_workers=2``.

CsvExampleGen reads the CSV (``--rows`` rows). Transform runs the taxi pipeline's
module (``pipelines/taxi/taxi_transform.py``: z-scores, vocabularies, quantile
buckets, the ``big_tipper`` label): it analyzes the train split and transforms both
splits of Examples written once, untimed, from a CSV of ``--transform-rows`` rows,
with the schema StatisticsGen and SchemaGen infer from them (as the taxi pipeline
does).

Every measurement runs in a fresh process with its libraries imported before the
clock starts; Beam's start-up (worker processes included) is inside the time. The
modes take turns, round after round, so a busy spell on a shared machine hits both;
each figure is the best of ``--repeats`` rounds. The report is a Markdown table.

Usage:
    python bench/beam_workers.py [--rows 1000000] [--transform-rows 1000000]
                                 [--repeats 2] [--work /tmp/mlpipe-bench-beam-workers]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
TRANSFORM_MODULE = REPO / "pipelines" / "taxi" / "taxi_transform.py"
MODES = {
    "1 worker (in memory)": ["--direct_running_mode=in_memory"],
    "2 workers (multi-processing)": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
}


def _context(out: str, component_id: str, beam_args: list[str]):
    from pipeline import ExecutionContext

    return ExecutionContext("bench", out, "bench", component_id, 1, list(beam_args))


def run_example_gen(csv_path: str, out: str, beam_args: list[str]) -> dict:
    """CsvExampleGen's function over the CSV, into ``out``; its row counts."""
    from components.example_gen import CsvExampleGen
    from pipeline import Examples

    examples = Examples(uri=os.path.join(out, "examples"))
    os.makedirs(examples.uri)
    result = CsvExampleGen.fn(
        examples=examples,
        input_base=csv_path,
        context=_context(out, "CsvExampleGen", beam_args),
    )
    return result["row_counts"]


def prepare_transform_input(csv_path: str, folder: str) -> None:
    """Examples, statistics and schema from ``csv_path``, as the taxi pipeline has."""
    from components import SchemaGen, StatisticsGen
    from pipeline import ExampleStatistics, Schema

    run_example_gen(csv_path, folder, [])
    examples = _examples(folder)
    statistics = ExampleStatistics(uri=os.path.join(folder, "statistics"))
    schema = Schema(uri=os.path.join(folder, "schema"))
    for artifact in (statistics, schema):
        os.makedirs(artifact.uri)
    StatisticsGen.fn(
        examples=examples,
        statistics=statistics,
        context=_context(folder, "StatisticsGen", []),
    )
    # As in pipelines/taxi/pipeline.py: features reach preprocessing_fn sparse.
    SchemaGen.fn(
        statistics=statistics,
        schema=schema,
        context=_context(folder, "SchemaGen", []),
        infer_feature_shape=False,
    )


def _examples(folder: str):
    from pipeline import Examples

    uri = os.path.join(folder, "examples")
    splits = sorted(
        p.name.removeprefix("Split-") for p in pathlib.Path(uri).glob("Split-*")
    )
    return Examples(uri=uri, properties={"split_names": splits})


def run_transform(folder: str, out: str, beam_args: list[str]) -> dict:
    """Transform's function over the prepared Examples; its transformed row counts."""
    from components import Transform
    from pipeline import Examples, Schema, TransformGraph

    graph = TransformGraph(uri=os.path.join(out, "transform_graph"))
    transformed = Examples(uri=os.path.join(out, "transformed_examples"))
    for artifact in (graph, transformed):
        os.makedirs(artifact.uri)
    result = Transform.fn(
        examples=_examples(folder),
        schema=Schema(uri=os.path.join(folder, "schema")),
        module_file=str(TRANSFORM_MODULE),
        transform_graph=graph,
        transformed_examples=transformed,
        context=_context(out, "Transform", beam_args),
    )
    return result["transformed_examples"]


def _child(args: argparse.Namespace) -> None:
    import apache_beam  # noqa: F401 - imported before the clock
    import tensorflow  # noqa: F401

    from components.transform.legacy_keras import import_tensorflow_transform

    import_tensorflow_transform()
    beam_args = json.loads(args.beam_args)
    out = tempfile.mkdtemp(prefix="mlpipe-bench-beam-workers-")
    try:
        started = time.perf_counter()
        if args.child == "CsvExampleGen":
            counts = run_example_gen(args.csv, out, beam_args)
        else:
            counts = run_transform(args.prepared, out, beam_args)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "rows": counts}))


def _measure(component: str, beam_args: list[str], **paths: str) -> dict:
    command = [sys.executable, __file__, "--child", component]
    command += ["--beam-args", json.dumps(beam_args)]
    for name, value in paths.items():
        command += [f"--{name}", value]
    done = subprocess.run(
        command,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{component} {beam_args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _csv(work: pathlib.Path, rows: int) -> str:
    path = work / f"taxi-{rows}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_taxi_data.py"), str(path)]
            + ["--rows", str(rows)],
            check=True,
        )
    return str(path)


def _prepared(work: pathlib.Path, rows: int) -> str:
    folder = work / f"transform-input-{rows}"
    if not (folder / "schema" / "schema.pbtxt").exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"preparing Transform's input from {rows:,} rows ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, __file__, "--prepare", str(folder)]
            + ["--csv", _csv(work, rows)],
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            cwd=REPO,
            check=True,
        )
    return str(folder)


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--transform-rows", type=int, help="default: --rows; 0 leaves Transform out"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", default="/tmp/mlpipe-bench-beam-workers")
    parser.add_argument("--child", choices=["CsvExampleGen", "Transform"])
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--beam-args", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.child:
        _child(args)
        return
    if args.prepare:
        prepare_transform_input(args.csv, args.prepare)
        return

    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    transform_rows = args.rows if args.transform_rows is None else args.transform_rows
    jobs = {("CsvExampleGen", args.rows): {"csv": _csv(work, args.rows)}}
    if transform_rows:
        jobs[("Transform", transform_rows)] = {
            "prepared": _prepared(work, transform_rows)
        }
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"{stamp}; best of {args.repeats}; Python {platform.python_version()}, "
        f"{platform.platform()}, {os.cpu_count()} cores"
    )
    print(f"load average before: {_load()}")
    runs: dict = {(job, mode): [] for job in jobs for mode in MODES}
    for round_ in range(1, args.repeats + 1):
        for job, paths in jobs.items():
            for mode, beam_args in MODES.items():
                measured = _measure(job[0], beam_args, **paths)
                runs[job, mode].append(measured)
                print(
                    f"  round {round_} {job[0]} {mode}: {measured['seconds']:.1f} s "
                    f"{measured['rows']} (load {_load()})",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"load average after: {_load()}\n")
    for job in jobs:
        counts = {
            json.dumps(r["rows"], sort_keys=True) for m in MODES for r in runs[job, m]
        }
        if len(counts) != 1:
            sys.exit(f"{job[0]}: the modes wrote different row counts: {counts}")
    one, two = MODES
    print(f"| component | rows | {one} | {two} | 2 workers / 1 worker |")
    print("|---|---:|---:|---:|---:|")
    for job in jobs:
        best = {mode: min(r["seconds"] for r in runs[job, mode]) for mode in MODES}
        print(
            f"| {job[0]} | {job[1]:,} | {best[one]:.1f} s | {best[two]:.1f} s | "
            f"{best[two] / best[one]:.2f} |"
        )
    print(
        "\nall runs (s):",
        json.dumps(
            {
                f"{job[0]} {mode}": [round(r["seconds"], 1) for r in done]
                for (job, mode), done in runs.items()
            }
        ),
    )


if __name__ == "__main__":
    main()
