"""Local clusters for the multi-process Estimator tests: ports, TF_CONFIG, processes.

Every task is a subprocess on 127.0.0.1 (``python -m <module> <json spec>``) with its
own ``TF_CONFIG``; ``Tasks`` kills whatever is still running when a test ends, so a
hang fails the test instead of leaving processes behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.components.trainer.models import REPO


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_cluster(**counts: int) -> dict[str, list[str]]:
    """A cluster spec with ``counts[job]`` tasks per job, on free local ports."""
    ports = iter(free_ports(sum(counts.values())))
    return {
        job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in counts.items()
    }


class Task:
    """One task's subprocess; its stdout and stderr go to files in ``log_dir``."""

    def __init__(self, name: str, process: subprocess.Popen, log: Path):
        self.name = name
        self.process = process
        self.log = log

    def wait(self, timeout: float) -> int:
        """The exit code; raises ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        """Everything the task printed so far (stdout then stderr)."""
        out = self.log.with_suffix(".out").read_text(errors="replace")
        err = self.log.with_suffix(".err").read_text(errors="replace")
        return out + err

    def result(self) -> dict:
        """The JSON object the task printed as its last stdout line."""
        lines = self.log.with_suffix(".out").read_text().strip().splitlines()
        return json.loads(lines[-1])

    def kill(self) -> None:
        """SIGKILL, then reap."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


class Tasks:
    """Starts task processes and kills every one still running on ``close()``.

    Args:
        log_dir: Where each task's ``<name>.out`` and ``<name>.err`` go.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[Task] = []

    def start(
        self, name: str, module: str, cluster: dict, task_type: str, index: int, spec
    ) -> Task:
        """Runs ``python -m module <spec as JSON>`` as task ``task_type:index``."""
        tf_config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(tf_config),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(REPO),
        }
        log = self.log_dir / name
        with (
            open(log.with_suffix(".out"), "w") as out,
            open(log.with_suffix(".err"), "w") as err,
        ):
            process = subprocess.Popen(
                [sys.executable, "-m", module, json.dumps(spec)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=err,
            )
        task = Task(name, process, log)
        self.started.append(task)
        return task

    def close(self) -> None:
        """Kills every task still running."""
        for task in self.started:
            task.kill()

    def __enter__(self) -> Tasks:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def wait_for(
    condition, timeout: float, what: str, alive: tuple = (), poll: float = 0.05
):
    """Polls ``condition()`` until it returns a true value; returns that value.

    Raises:
        TimeoutError: ``timeout`` seconds passed first.
        RuntimeError: A task in ``alive`` exited first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for task in alive:
            if task.process.poll() is not None:
                raise RuntimeError(
                    f"{task.name} exited {task.process.returncode} while waiting for "
                    f"{what}:\n{task.output()[-4000:]}"
                )
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout} s for {what}")


def read_step(path: Path) -> int:
    """The step a task's progress hook last wrote to ``path`` (-1 before any)."""
    try:
        return int(path.read_text() or -1)
    except (FileNotFoundError, ValueError):
        return -1


def newest_step(model_dir: Path) -> int:
    """The step of the checkpoint model_dir's ``checkpoint`` file names newest."""
    import tensorflow as tf

    return int(tf.train.latest_checkpoint(str(model_dir)).rsplit("-", 1)[1])


def checkpoint_steps(model_dir: Path) -> list[int]:
    """The steps of the ``model.ckpt-<step>`` files in model_dir, sorted."""
    return sorted(
        int(p.name[len("model.ckpt-") : -len(".index")])
        for p in Path(model_dir).glob("model.ckpt-*.index")
    )
