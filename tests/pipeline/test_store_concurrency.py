"""Several processes write one store at once and nothing is lost, on every backend.

In the first test each worker process opens the same fresh store (a SQLite file, or a
PostgreSQL database without tables) at the same moment, so table creation races too,
then runs many full execution life cycles as a runner would. In the second, eight
``mlpipe run`` processes run a small pipeline of function components against one
store at once. Any "database is locked" error, or any record missing or doubled
afterwards, fails the tests.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import queue
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.artifacts import ArtifactState, Examples
from pipeline.metadata import ExecutionState, MetadataStore, RunState, schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite-file", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store, not yet opened, that several processes share."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'shared' / 'metadata.sqlite'}"


PROCESSES = 3
CYCLES = 40


def _run_cycles(url: str, worker: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        with MetadataStore(url) as store:
            previous = None
            for cycle in range(CYCLES):
                _cycle(store, worker, cycle, previous)
                previous = store.get_artifacts(
                    pipeline_name=f"pipeline-{worker}", limit=1
                )[0]
        results.put((worker, None))
    except BaseException:  # noqa: BLE001 - the parent reports it
        results.put((worker, traceback.format_exc()))


def _cycle(
    store: MetadataStore, worker: int, cycle: int, previous: Examples | None
) -> None:
    assert store.reclaim_dead_executions() == []
    run = store.start_run(f"pipeline-{worker}", properties={"cycle": cycle})
    fingerprint = f"{worker}-{cycle}"
    described = dict(
        run_id=run.run_id,
        component_type="Step",
        parameters={"worker": worker, "cycle": cycle},
        fingerprint=fingerprint,
        code_version="v1",
        inputs={"examples": previous} if previous else {},
    )
    record = store.create_execution(component_id="step", **described)
    examples = Examples(uri=f"/w{worker}/c{cycle}/tmp")
    store.register_outputs(record.id, {"examples": examples})
    examples.uri = f"/w{worker}/c{cycle}"
    examples.span = cycle
    store.publish_execution(record.id, {"examples": examples}, result={"cycle": cycle})

    earlier, outputs = store.find_cached_execution(fingerprint)
    assert earlier.id == record.id and outputs == {"examples": examples}
    store.record_cached_execution(
        component_id="step_again", outputs=outputs, cached_from=earlier.id, **described
    )
    store.finish_run(run.run_id, RunState.COMPLETE)


def test_processes_write_one_store_at_once(shared_url: str):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_run_cycles, args=(shared_url, worker, barrier, results))
        for worker in range(PROCESSES)
    ]
    started = time.monotonic()
    for process in workers:
        process.start()
    errors = {}
    try:
        for _ in workers:
            worker, error = results.get(timeout=120)
            errors[worker] = error
    except queue.Empty:
        errors["timeout"] = (
            f"workers did not finish in {time.monotonic() - started:.0f}s"
        )
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()

    assert errors == dict.fromkeys(range(PROCESSES)), "\n".join(
        str(error) for error in errors.values() if error
    )
    with MetadataStore(shared_url) as store:
        _check_store(store)


def _check_store(store: MetadataStore) -> None:
    assert store.pipelines() == [f"pipeline-{w}" for w in range(PROCESSES)]
    runs = store.list_runs(limit=None)
    assert len(runs) == PROCESSES * CYCLES
    assert {run.state for run in runs} == {RunState.COMPLETE}
    for worker in range(PROCESSES):
        name = f"pipeline-{worker}"
        mine = store.list_runs(pipeline_name=name, limit=None)
        assert [run.properties["cycle"] for run in mine] == list(
            reversed(range(CYCLES))
        )
        for run in mine:
            cycle = run.properties["cycle"]
            step, again = store.executions_of_run(run.run_id)
            assert step.state is ExecutionState.COMPLETE
            assert step.result == {"cycle": cycle}
            assert again.state is ExecutionState.CACHED and again.cached_from == step.id
            (examples,) = store.outputs_of(step.id).values()
            assert examples.uri == f"/w{worker}/c{cycle}" and examples.span == cycle
            assert examples.state is ArtifactState.LIVE
            assert store.outputs_of(again.id) == {"examples": examples}
            assert store.find_cached_execution(f"{worker}-{cycle}")[0] == step

        newest = store.get_artifacts(pipeline_name=name, limit=1)[0]
        chain = store.upstream(newest.id)
        assert len(chain.artifacts) == len(chain.executions) == CYCLES


RUNS = 8
PIPELINE_FILE = """
import json
import os
import time
from pathlib import Path

from pipeline import Artifact, Input, Output, Pipeline, component

WORKER = int(os.environ["WORKER"])


def _read(artifact):
    return json.loads(Path(artifact.uri, "values.json").read_text())


def _write(artifact, values):
    Path(artifact.uri, "values.json").write_text(json.dumps(values))


@component
def make_numbers(numbers: Output[Artifact], count: int = 20):
    # The same in every run: the runs race for its cache entry.
    _write(numbers, list(range(count)))


@component
def scale(numbers: Input[Artifact], scaled: Output[Artifact], factor: int = 1):
    _write(scaled, [factor * v for v in _read(numbers)])


@component
def square(numbers: Input[Artifact], squared: Output[Artifact], offset: int = 0):
    _write(squared, [v * v + offset for v in _read(numbers)])


@component
def combine(scaled: Input[Artifact], squared: Input[Artifact],
            summary: Output[Artifact], worker: int = 0):
    total = sum(_read(scaled)) + sum(_read(squared))
    _write(summary, [total])
    return {"total": total, "worker": worker}


def create_pipeline():
    # Every run waits here until all have started, so that they run at once.
    Path(os.environ["GATE"], f"ready-{WORKER}").touch()
    deadline = time.monotonic() + 120
    while not Path(os.environ["GATE"], "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.02)
    numbers = make_numbers()
    scaled = scale(numbers=numbers.outputs["numbers"], factor=WORKER + 1)
    squared = square(numbers=numbers.outputs["numbers"], offset=WORKER)
    summary = combine(
        scaled=scaled.outputs["scaled"], squared=squared.outputs["squared"],
        worker=WORKER)
    return Pipeline(
        "many", [numbers, scaled, squared, summary], root=os.environ["ROOT"])
"""
COMPONENTS = ["combine", "make_numbers", "scale", "square"]


def _expected_total(worker: int) -> int:
    values = range(20)
    return sum((worker + 1) * v for v in values) + sum(v * v + worker for v in values)


def test_eight_mlpipe_runs_share_one_store_at_once(shared_url: str, tmp_path: Path):
    pipeline_file = tmp_path / "many.py"
    pipeline_file.write_text(textwrap.dedent(PIPELINE_FILE))
    gate = tmp_path / "gate"
    gate.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run", str(pipeline_file)]
            + ["--store", shared_url, "--parallelism", "2"],
            cwd=REPO,
            env={
                **os.environ,
                "WORKER": str(worker),
                "GATE": str(gate),
                "ROOT": str(tmp_path / "root"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for worker in range(RUNS)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(gate.glob("ready-*"))) < RUNS:
            crashed = [c for c in children if c.poll() is not None]
            if crashed or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        (gate / "go").touch()
        outputs = [child.communicate(timeout=180)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0] * RUNS, "\n".join(outputs)
    assert not any("database is locked" in out for out in outputs)

    with MetadataStore(shared_url) as store:
        _check_runs(store, shared_url)


def _check_runs(store: MetadataStore, url: str) -> None:
    runs = store.list_runs(pipeline_name="many", limit=None)
    assert len(runs) == RUNS
    assert {run.state for run in runs} == {RunState.COMPLETE}

    workers = []
    complete = []
    for run in runs:
        executions = {e.component_id: e for e in store.executions_of_run(run.run_id)}
        assert sorted(executions) == COMPONENTS
        assert len(store.executions_of_run(run.run_id)) == len(COMPONENTS)
        numbers = executions["make_numbers"]
        assert numbers.state in (ExecutionState.COMPLETE, ExecutionState.CACHED)
        if numbers.state is ExecutionState.CACHED:
            source = store.get_execution(numbers.cached_from)
            assert source.component_id == "make_numbers"
            assert source.state is ExecutionState.COMPLETE
            assert store.outputs_of(numbers.id) == store.outputs_of(source.id)
        for component_id in ("scale", "square", "combine"):
            assert executions[component_id].state is ExecutionState.COMPLETE
        complete += [e for e in executions.values() if e.cached_from is None]

        # Each run read what its own steps wrote (or reused), nothing else.
        (made,) = store.outputs_of(numbers.id).values()
        for component_id in ("scale", "square"):
            assert store.inputs_of(executions[component_id].id) == {"numbers": made}
        summary = executions["combine"]
        assert store.inputs_of(summary.id) == {
            "scaled": store.outputs_of(executions["scale"].id)["scaled"],
            "squared": store.outputs_of(executions["square"].id)["squared"],
        }
        worker = summary.parameters["worker"]
        workers.append(worker)
        assert summary.result == {"total": _expected_total(worker), "worker": worker}
        (written,) = store.outputs_of(summary.id).values()
        assert Path(written.uri, "values.json").read_text() == (
            f"[{_expected_total(worker)}]"
        )
    assert sorted(workers) == list(range(RUNS))

    # Every artifact was written by exactly one execution that ran, is LIVE, and
    # is where it says; every execution belongs to one run and one pipeline.
    outputs = {
        artifact.id: execution.id
        for execution in complete
        for artifact in store.outputs_of(execution.id).values()
    }
    assert len(outputs) == len(complete)
    artifacts = store.get_artifacts(state=None, limit=None)
    assert sorted(a.id for a in artifacts) == sorted(outputs)
    assert {a.state for a in artifacts} == {ArtifactState.LIVE}
    assert all(Path(a.uri, "values.json").is_file() for a in artifacts)
    for artifact_id, execution_id in outputs.items():
        assert store.producer_of(artifact_id).id == execution_id
    counts = _count_rows(url)
    assert counts["executions"] == RUNS * len(COMPONENTS)
    assert counts["artifacts"] == len(complete)
    assert counts["associations"] == 2 * RUNS * len(COMPONENTS)
    assert counts["contexts"] == RUNS + 1
    assert counts["artifact_types"] == 1


def _count_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return collections.Counter(
                {
                    table.name: conn.scalar(
                        sa.select(sa.func.count()).select_from(table)
                    )
                    for table in schema.metadata.sorted_tables
                }
            )
    finally:
        engine.dispose()
