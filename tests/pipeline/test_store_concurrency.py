"""Several processes write one SQLite store at once and nothing is lost.

Each worker process opens the same fresh file at the same moment (so table creation
races too), then runs many full execution life cycles as a runner would. Any
"database is locked" error, or any record missing afterwards, fails the test.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from pathlib import Path

from pipeline.artifacts import ArtifactState, Examples
from pipeline.metadata import ExecutionState, MetadataStore, RunState

PROCESSES = 3
CYCLES = 40


def _run_cycles(path: str, worker: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        with MetadataStore(path) as store:
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


def test_processes_write_one_store_at_once(tmp_path: Path):
    path = str(tmp_path / "shared" / "metadata.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_run_cycles, args=(path, worker, barrier, results))
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
    with MetadataStore(path) as store:
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
