"""ParameterServerStrategy from TF_CONFIG: a chief, 2 workers and a ps on 127.0.0.1.

The tasks run ``ps_run.py``: the chief trains through the Estimator; the workers and
the ps run ``start_server``.
"""

from __future__ import annotations

import time

import pytest

from tests.components.trainer import cluster as local_cluster

MODULE = "tests.components.trainer.ps_run"
TIMEOUT = 120


@pytest.mark.slow
def test_parameter_server_training_reaches_max_steps(tmp_path):
    model_dir = tmp_path / "model"
    cluster = local_cluster.make_cluster(chief=1, worker=2, ps=1)
    spec = {
        "model_dir": str(model_dir),
        "max_steps": 200,
        "save_steps": 50,
        "train_and_evaluate": True,
    }
    started = time.monotonic()
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        # One process serves both workers and the ps (in-process servers).
        tasks.start(
            "servers",
            MODULE,
            cluster,
            "worker",
            0,
            {"also": [["worker", 1], ["ps", 0]]},
        )
        chief = tasks.start("chief", MODULE, cluster, "chief", 0, spec)
        code = chief.wait(TIMEOUT)
        assert code == 0, chief.output()[-4000:]
        result = chief.result()
    print(f"PS run: {time.monotonic() - started:.1f} s; chief: {result['seconds']}")

    assert result["is_chief"]
    # The input_fn was traced once per worker, each with its own InputContext;
    # evaluation (after each of the 4 checkpoints) reads its input on the chief.
    assert result["calls"] == [[2, 0, 16], [2, 1, 16]]
    assert result["eval_calls"] == [[1, 0, 16]] * 4
    # Exactly max_steps steps, counted by the Estimator's variable.
    steps = [step for step, _, _ in result["runs"]]
    assert steps[-1] == 200 and steps == sorted(steps)
    assert sum(done for _, _, done in result["runs"]) == 200
    losses = [loss for _, loss, _ in result["runs"]]
    assert losses[-1] < losses[0] / 5
    assert result["eval"]["global_step"] == 200 and result["eval"]["count"] == 90
    assert result["eval"]["loss"] < losses[0] / 5
    # The chief wrote the checkpoints and exported the final model.
    assert local_cluster.checkpoint_steps(model_dir) == [0, 50, 100, 150, 200]
    (export,) = result["exports"]
    assert export.startswith(str(model_dir / "export" / "final"))


def run_chief(tasks, cluster, spec, name="chief"):
    return tasks.start(name, MODULE, cluster, "chief", 0, spec)


@pytest.mark.slow
def test_a_killed_ps_loses_no_training_after_the_chief_restarts(tmp_path):
    model_dir = tmp_path / "model"
    cluster = local_cluster.make_cluster(chief=1, worker=2, ps=1)
    progress = tmp_path / "progress"
    spec = {
        "model_dir": str(model_dir),
        "max_steps": 300,
        "save_steps": 40,
        "step_sleep": 0.02,
        "progress": str(progress),
    }
    started = time.monotonic()
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        tasks.start("workers", MODULE, cluster, "worker", 0, {"also": [["worker", 1]]})
        ps = tasks.start("ps", MODULE, cluster, "ps", 0, {})
        chief = run_chief(tasks, cluster, spec)
        local_cluster.wait_for(
            lambda: local_cluster.read_step(progress) >= 100,
            TIMEOUT,
            "the chief to pass step 100",
            alive=(chief, ps),
        )
        ps.kill()
        killed_at = time.monotonic()
        # The variables lived on the ps: the chief cannot go on, and says so.
        code = chief.wait(60)
        detected = time.monotonic() - killed_at
        assert code != 0
        assert "UnavailableError" in chief.output()
        newest = local_cluster.newest_step(model_dir)
        assert 80 <= newest < 300

        # The job restarts the ps and the chief (the workers kept running); the chief
        # restores the newest checkpoint into the new ps and trains on.
        tasks.start("ps-again", MODULE, cluster, "ps", 0, {})
        chief = run_chief(tasks, cluster, {**spec, "step_sleep": 0}, "chief-again")
        assert chief.wait(TIMEOUT) == 0, chief.output()[-4000:]
        result = chief.result()
    print(
        f"PS kill test: {time.monotonic() - started:.1f} s; the chief failed "
        f"{detected:.1f} s after the ps died; restarted from step {newest}"
    )
    assert result["started_from"] == f"model.ckpt-{newest}"
    steps = [step for step, _, _ in result["runs"]]
    assert newest < steps[0] and steps[-1] == 300 and steps == sorted(steps)
    assert sum(done for _, _, done in result["runs"]) == 300 - newest
    assert local_cluster.checkpoint_steps(model_dir)[-1] == 300
    assert result["eval"]["loss"] < 0.05


@pytest.mark.slow
def test_a_killed_worker_is_tolerated_without_restarting_the_chief(tmp_path):
    model_dir = tmp_path / "model"
    cluster = local_cluster.make_cluster(chief=1, worker=2, ps=1)
    progress = tmp_path / "progress"
    spec = {
        "model_dir": str(model_dir),
        "max_steps": 500,
        "save_steps": 100,
        "step_sleep": 0.02,
        "progress": str(progress),
        "coordinator_logs": True,
    }
    started = time.monotonic()
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        tasks.start("servers", MODULE, cluster, "ps", 0, {"also": [["worker", 0]]})
        worker = tasks.start("worker1", MODULE, cluster, "worker", 1, {})
        chief = run_chief(tasks, cluster, spec)
        step = lambda: local_cluster.read_step(progress)  # noqa: E731
        local_cluster.wait_for(
            lambda: step() >= 60, TIMEOUT, "step 60", (chief, worker)
        )
        worker.kill()
        killed_at = step()
        # The coordinator puts worker 1's functions back in the queue; worker 0
        # runs them: training goes on.
        local_cluster.wait_for(
            lambda: step() >= killed_at + 40, TIMEOUT, "progress on worker 0", (chief,)
        )
        # The worker comes back at its address; the coordinator takes it in again
        # (rebuilding its dataset) while the chief trains on.
        tasks.start("worker1-again", MODULE, cluster, "worker", 1, {})
        recovered = "Worker /job:worker/replica:0/task:1 has been recovered"
        local_cluster.wait_for(
            lambda: recovered in chief.output(), TIMEOUT, "worker 1 back", (chief,)
        )
        recovered_at = step()
        assert chief.wait(TIMEOUT) == 0, chief.output()[-4000:]
        result = chief.result()
    print(
        f"PS worker kill test: {time.monotonic() - started:.1f} s; worker 1 killed at "
        f"step {killed_at}, back at step {recovered_at}"
    )
    assert recovered_at < 500
    steps = [step for step, _, _ in result["runs"]]
    # A function re-run after the failure may count its steps twice, never less.
    assert 500 <= steps[-1] < 500 + 8 and steps == sorted(steps)
    assert local_cluster.checkpoint_steps(model_dir)[-1] == steps[-1]
