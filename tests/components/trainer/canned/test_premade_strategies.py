"""Wide & deep (linear + DNN parts, sparse and embedding columns) under every strategy.

Each runs ``strategy_run.py`` in subprocesses: MirroredStrategy over 2 logical CPUs
must match one replica on the global batch; MultiWorkerMirroredStrategy's two workers
must end with the same model (variables and evaluation); ParameterServerStrategy's chief must train to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.components.trainer import cluster as local_cluster
from tests.components.trainer.models import REPO

pytestmark = pytest.mark.slow

MODULE = "tests.components.trainer.canned.strategy_run"
TIMEOUT = 240


def assert_same_variables(a: dict, b: dict, rtol=1e-4, atol=1e-5) -> None:
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        np.testing.assert_allclose(value, b[name], rtol=rtol, atol=atol, err_msg=name)


def test_mirrored_matches_one_replica(tmp_path):
    spec = {"strategy": "mirrored", "model_dir": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", MODULE, json.dumps(spec)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    single, mirrored = runs["single"], runs["mirrored"]
    assert runs["replicas"] == 2
    names = single["variables"]
    assert "linear/linear_model/color_X_x2_bucketized/weights" in names
    assert "dnn/input_from_feature_columns/city_embedding/embedding_weights" in names
    assert any(n.startswith("linear_optimizer/") for n in names)
    assert any(n.startswith("dnn_optimizer/") for n in names)
    assert_same_variables(single["variables"], mirrored["variables"])
    np.testing.assert_allclose(
        single["predictions"], mirrored["predictions"], rtol=1e-4, atol=1e-6
    )
    assert single["eval"]["global_step"] == mirrored["eval"]["global_step"] == 40
    for key in ("accuracy", "auc", "average_loss"):
        np.testing.assert_allclose(
            single["eval"][key], mirrored["eval"][key], rtol=1e-3, err_msg=key
        )
    assert single["eval"]["accuracy"] > single["eval"]["accuracy_baseline"]


def test_multi_worker_mirrored_workers_agree(tmp_path):
    cluster = local_cluster.make_cluster(worker=2)
    spec = {"strategy": "multi_worker", "model_dir": str(tmp_path / "model")}
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        workers = [
            tasks.start(f"worker{i}", MODULE, cluster, "worker", i, spec)
            for i in range(2)
        ]
        results = []
        for worker in workers:
            code = worker.wait(TIMEOUT)
            assert code == 0, f"{worker.name} exited {code}:\n{worker.output()[-4000:]}"
            results.append(worker.result())
    chief, other = results
    assert chief["is_chief"] and not other["is_chief"]
    assert chief["eval"]["global_step"] == 40
    assert chief["eval"]["accuracy"] > chief["eval"]["accuracy_baseline"]
    # Both workers hold the same model and report the same evaluation.
    assert_same_variables(chief["variables"], other["variables"], rtol=1e-6, atol=0)
    assert chief["eval"]["auc"] == pytest.approx(other["eval"]["auc"], rel=1e-6)


def test_parameter_server_chief_trains_to_the_end(tmp_path):
    cluster = local_cluster.make_cluster(chief=1, worker=2, ps=1)
    spec = {"strategy": "parameter_server", "model_dir": str(tmp_path / "model")}
    with local_cluster.Tasks(tmp_path / "logs") as tasks:
        tasks.start(
            "servers",
            MODULE,
            cluster,
            "worker",
            0,
            {**spec, "also": [["worker", 1], ["ps", 0]]},
        )
        chief = tasks.start("chief", MODULE, cluster, "chief", 0, spec)
        code = chief.wait(TIMEOUT)
        assert code == 0, chief.output()[-4000:]
        result = chief.result()
    assert result["is_chief"]
    assert result["eval"]["global_step"] >= 40
    assert result["eval"]["accuracy"] > result["eval"]["accuracy_baseline"]
    assert "linear/linear_model/tags/weights" in result["variables"]
