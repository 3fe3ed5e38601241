"""Orchestration overhead: a 10-component no-op pipeline fresh and cached, and `mlpipe --help`.

Each figure is the median wall time of several runs of a fresh process, reported beside
the baseline measured in the same run: the bare Python start (`python -c pass`). The
figure that matters is the time beyond that start. `import tensorflow` is measured too,
for scale: a runner that imported TensorFlow for bookkeeping could not be faster than it.

Usage:
    python bench/orchestration.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MLPIPE = [sys.executable, "-m", "pipeline.cli"]


def _time(command: list[str], env: dict[str, str], before=None) -> float:
    if before:
        before()
    started = time.perf_counter()
    subprocess.run(
        command,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _median(
    command: list[str], env: dict[str, str], repeats: int, before=None
) -> float:
    return statistics.median(_time(command, env, before) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mlpipe-bench-")
    store = os.path.join(work, "metadata.sqlite")
    root = os.path.join(work, "root")
    env = {**os.environ, "BENCH_ROOT": root, "MLPIPE_HOME": work, "MLPIPE_STORE": store}
    pipeline_file = os.path.join(HERE, "noop_pipeline.py")

    def fresh_store() -> None:
        shutil.rmtree(root, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store + suffix):
                os.remove(store + suffix)

    baseline = _median([sys.executable, "-c", "pass"], env, args.repeats)
    tensorflow = _median(
        [sys.executable, "-c", "import tensorflow"], env, max(1, args.repeats // 2)
    )
    help_time = _median([*MLPIPE, "--help"], env, args.repeats)
    fresh = _median(
        [*MLPIPE, "run", pipeline_file], env, args.repeats, before=fresh_store
    )
    _time([*MLPIPE, "run", pipeline_file], env)  # make sure the cache is full
    cached = _median([*MLPIPE, "run", pipeline_file], env, args.repeats)
    runs = _median([*MLPIPE, "runs"], env, args.repeats)
    shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("python -c pass (baseline)", baseline, "-"),
        ("mlpipe --help", help_time, "0.3 s"),
        ("10-component no-op pipeline, fresh", fresh, "3 s"),
        ("10-component no-op pipeline, cached", cached, "1 s"),
        ("mlpipe runs (a read-only command)", runs, "-"),
        ("python -c 'import tensorflow' (for scale)", tensorflow, "-"),
    ]
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{today}: median of {args.repeats} runs; Python {sys.version.split()[0]}, "
        f"{platform.platform()}, {os.cpu_count()} cores\n"
    )
    print(
        "| what | wall time | beyond Python start | ratio to Python start | aim (beyond start) |"
    )
    print("|---|---|---|---|---|")
    for name, seconds, aim in rows:
        print(
            f"| {name} | {seconds:.3f} s | {seconds - baseline:.3f} s | "
            f"{seconds / baseline:.1f}x | {aim} |"
        )


if __name__ == "__main__":
    main()
