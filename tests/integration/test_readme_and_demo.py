"""The README's promises: the demo pipeline runs, and its Python examples run as written."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if "ipeline(" in b and ".run()" in b]


def _mlpipe(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )


def test_make_demo_runs_the_taxi_pipeline_then_comes_from_the_cache(tmp_path):
    # `make demo` is `mlpipe run pipelines/taxi/pipeline.py`; --root keeps it here.
    env = {**os.environ, "MLPIPE_HOME": str(tmp_path / "home")}
    root = tmp_path / "root"
    run = ["run", "pipelines/taxi/pipeline.py", "--root", str(root)]
    first = _mlpipe(*run, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (root / "serving" / "taxi" / "1" / "saved_model.pb").exists()
    second = _mlpipe(*run, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    store = ["--store", f"sqlite:///{root / 'metadata.sqlite'}"]
    shown = _mlpipe("show", "latest", "--json", *store, env=env)
    assert shown.returncode == 0, shown.stderr
    states = {
        e["component_id"]: e["state"] for e in json.loads(shown.stdout)["executions"]
    }
    assert set(states.values()) == {"CACHED"}
    assert len(states) == 8
    runs = json.loads(_mlpipe("runs", "--json", *store, env=env).stdout)
    first_run = _mlpipe("show", runs[-1]["run_id"], "--json", *store, env=env)
    evaluator = next(
        e["result"]
        for e in json.loads(first_run.stdout)["executions"]
        if e["component_id"] == "Evaluator"
    )
    assert evaluator["blessed"] is True
    assert evaluator["auc"] > 0.7


def test_the_function_component_demo_runs_then_comes_from_the_cache(tmp_path):
    env = {**os.environ, "MLPIPE_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "pipeline.cli", "run", "pipelines/demo.py"]
    command += ["--root", str(tmp_path / "root")]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "root" / "serving" / "1" / "centroids.json").exists()
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "show", "latest", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    states = {
        e["component_id"]: e["state"] for e in json.loads(shown.stdout)["executions"]
    }
    assert set(states.values()) == {"CACHED"}
    assert len(states) == 5
    runs = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "runs", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    first_run = json.loads(runs.stdout)[-1]["run_id"]
    shown_first = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "show", first_run, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    accuracy = next(
        e["result"]["accuracy"]
        for e in json.loads(shown_first.stdout)["executions"]
        if e["component_id"] == "evaluate_model"
    )
    assert accuracy >= 0.7


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_examples_run_as_written(tmp_path, index):
    (tmp_path / "pipelines").symlink_to(REPO / "pipelines")
    script = tmp_path / "example.py"
    script.write_text(_python_blocks()[index])
    env = {**os.environ, "MLPIPE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs").is_dir()  # the example's root is where it says
