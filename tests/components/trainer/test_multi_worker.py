"""MultiWorkerMirroredStrategy from TF_CONFIG: 2 real worker processes on 127.0.0.1.

The workers run ``multi_worker_run.py``; the single-process reference runs here.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator import checkpoints
from tests.components.trainer import cluster as local_cluster
from tests.components.trainer.models import dnn_model_fn
from tests.components.trainer.multi_worker_run import make_input_fn

MODULE = "tests.components.trainer.multi_worker_run"
TIMEOUT = 120


def start_workers(tasks, cluster, spec, suffix=""):
    return [
        tasks.start(f"worker{i}{suffix}", MODULE, cluster, "worker", i, spec)
        for i in range(2)
    ]


def wait_all(workers, timeout=TIMEOUT):
    for worker in workers:
        code = worker.wait(timeout)
        assert code == 0, f"{worker.name} exited {code}:\n{worker.output()[-4000:]}"
    return [worker.result() for worker in workers]


def single_process_variables(model_dir, phases) -> dict:
    """The same training in this process: one replica, the whole global batch."""
    estimator = tf_estimator.Estimator(
        dnn_model_fn,
        str(model_dir),
        tf_estimator.RunConfig(tf_random_seed=11, save_checkpoints_steps=5),
        params={"hidden_units": [8]},
    )
    for max_steps in phases:
        estimator.train(make_input_fn([]), max_steps=max_steps)
    path = estimator.latest_checkpoint()
    return {
        name: checkpoints.read_value(path, name)
        for name in estimator.get_variable_names()
    }


@pytest.mark.slow
def test_two_workers_train_like_one_process_on_the_same_global_batches(tmp_path):
    model_dir = tmp_path / "model"
    spec = {
        "model_dir": str(model_dir),
        "phases": [12, 20],
        "slow_chief_save": 1.0,
        "train_and_evaluate": True,
    }
    cluster = local_cluster.make_cluster(worker=2)
    started = time.monotonic()
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        workers = start_workers(tasks, cluster, spec)
        chief, worker = wait_all(workers)
    elapsed = time.monotonic() - started
    print(f"2-worker MWMS run: {elapsed:.1f} s; chief: {chief['seconds']}")

    # Worker 0 is the chief; each worker's input_fn got its own InputContext, once
    # per call (training; train_and_evaluate's training and its 2 evaluations, at
    # steps 17 and 20), and batched per replica.
    assert (chief["is_chief"], worker["is_chief"]) == (True, False)
    assert chief["calls"] == [[2, 0, 16]] * 4
    assert worker["calls"] == [[2, 1, 16]] * 4

    # Only the chief wrote into model_dir: its checkpoints (the 5 newest kept), its
    # event files (one per Estimator and one per evaluation) and the exports; worker
    # 1 wrote its share of each save to a temporary directory and deleted it.
    assert local_cluster.checkpoint_steps(model_dir) == [5, 10, 12, 17, 20]
    events = list(model_dir.glob("events.*")) + list(model_dir.glob("eval/events.*"))
    assert len(events) == 4
    assert {p.name.split(".")[-3] for p in events} == {str(workers[0].process.pid)}
    assert workers[1].output().count("(not the chief: deleted)") == 6
    assert len(list((model_dir / "export" / "latest").iterdir())) == 2

    # The chief was still writing step 12 when the first training ended: the
    # worker's second Estimator waited for that checkpoint and started from it.
    for result in (chief, worker):
        assert result["phases"][0]["steps"][-1] == 12
        assert result["phases"][1]["steps"] == list(range(13, 21))
    for phase in range(2):
        mine, theirs = (r["phases"][phase]["variables"] for r in (chief, worker))
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    assert chief["eval"] == worker["eval"]
    assert chief["eval"]["count"] == 90 and chief["eval"]["global_step"] == 20

    # 2 workers x 16 examples match 1 process x 32 (the same global batches).
    expected = single_process_variables(tmp_path / "single", [12, 20])
    final = tf.train.latest_checkpoint(str(model_dir))
    assert sorted(expected) == sorted(checkpoints.variable_shapes(final))
    for name, value in expected.items():
        np.testing.assert_allclose(
            checkpoints.read_value(final, name),
            value,
            rtol=1e-4,
            atol=1e-6,
            err_msg=name,
        )


@pytest.mark.slow
def test_a_killed_worker_loses_no_training_after_the_job_restarts(tmp_path):
    model_dir = tmp_path / "model"
    spec = {
        "model_dir": str(model_dir),
        "phases": [60],
        "save_steps": 10,
        "step_sleep": 0.05,
        "progress": str(tmp_path / "progress-{task}"),
        "heartbeat_timeout_ms": 5000,
    }
    cluster = local_cluster.make_cluster(worker=2)
    started = time.monotonic()
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        chief, worker = start_workers(tasks, cluster, spec)
        local_cluster.wait_for(
            lambda: local_cluster.read_step(tmp_path / "progress-0") >= 25,
            TIMEOUT,
            "the chief to pass step 25",
            alive=(chief, worker),
        )
        worker.kill()
        saved_before = local_cluster.checkpoint_steps(model_dir)
        killed_at = time.monotonic()
        # The coordination service misses the dead worker's heartbeats and aborts
        # the chief's collectives: the chief fails instead of hanging.
        code = chief.wait(60)
        detected = time.monotonic() - killed_at
        assert code != 0
        assert "UnavailableError" in chief.output()
        newest = local_cluster.newest_step(model_dir)
        assert 20 <= saved_before[-1] <= newest < 60

        # The job restarts (both workers, same addresses) and continues from there.
        restarted = start_workers(tasks, cluster, {**spec, "step_sleep": 0}, "-again")
        results = wait_all(restarted)
    print(
        f"kill test: {time.monotonic() - started:.1f} s; dead worker detected in "
        f"{detected:.1f} s; restarted from step {newest}"
    )
    for result in results:
        steps = result["phases"][0]["steps"]
        assert steps[0] == newest + 1 and steps[-1] == 60
        assert steps == sorted(steps)
    assert local_cluster.checkpoint_steps(model_dir)[-1] == 60
    assert results[0]["eval"] == results[1]["eval"]
