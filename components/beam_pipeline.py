"""Beam pipelines for components, built from the pass-through pipeline options.

Every component that does data work builds its pipeline here, so the options a user
gives (``Pipeline(beam_pipeline_args=...)``, ``.with_beam_args(...)``,
``mlpipe run --beam-arg=...``) reach every Beam job the same way.

Locally, jobs run in memory, in one process, unless the user says otherwise or the
component reports an input of ``LARGE_INPUT_BYTES`` or more (only CsvExampleGen
does): then ``choose_local_mode`` picks multi-processing (see its docstring for the
measurements behind the rule).

Example:
    >>> options = beam_options(["--direct_num_workers=2"])
    >>> options.get_all_options()["runner"]
    'FnApiRunner'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("mlpipe.beam")

DEFAULT_RUNNER = "FnApiRunner"
# Measured with bench/example_gen.py and bench/beam_workers.py on a 2-core machine
# (docs/benchmarks.md): 2 worker processes beat one in-memory process for CsvExampleGen
# only on large input, and lost on every other component measured.
LARGE_INPUT_BYTES = 1_000_000_000
MAX_AUTO_WORKERS = 4
# Options that decide where a local job runs; any one of them leaves the choice to the
# user.
_MODE_OPTIONS = (
    "--runner",
    "--direct_running_mode",
    "--direct_num_workers",
    "--environment_type",
)


def beam_options(args: Sequence[str] = ()) -> Any:
    """Beam ``PipelineOptions`` from command-line style arguments.

    The runner defaults to Beam's local FnApiRunner, which honours
    ``--direct_running_mode`` and ``--direct_num_workers``. Beam's ``DirectRunner``
    first tries the Prism runner, which downloads a binary (stalling a machine without
    internet access) and then falls back to this same FnApiRunner.

    Args:
        args: Options such as ``["--runner=DataflowRunner", "--project=p"]``.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    args = list(args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.insert(0, f"--runner={DEFAULT_RUNNER}")
    return PipelineOptions(args)


def choose_local_mode(
    args: Sequence[str], input_bytes: int | None, *, cores: int | None = None
) -> tuple[list[str], str]:
    """Options to add for a local job of this input size, and the reason in words.

    The rule: when ``args`` name no runner and no running mode (none of
    ``--runner``, ``--direct_running_mode``, ``--direct_num_workers``,
    ``--environment_type``) and the input is at least ``LARGE_INPUT_BYTES``, run
    Beam's FnApiRunner in ``multi_processing`` mode with ``min(cores,
    MAX_AUTO_WORKERS)`` workers; otherwise add nothing (one process, in memory).
    Options the user gave are never changed.

    Why (docs/benchmarks.md, a 2-core machine): CsvExampleGen took 6.3 s in memory
    and 6.9 s with 2 workers on 1M taxi rows (132 MB of CSV), 56.6 s and 42.3 s on
    10M rows (1.3 GB); worker processes cost about 2 s to start and then convert rows
    about 1.4x as fast on idle cores. On 4M rows (527 MB) with the machine busy, 2
    workers were still slower (30.2 s against 28.2 s), hence 1 GB, not the ~200 MB
    break-even of the quiet figures. StatisticsGen (1M rows), Transform (1M) and the
    Evaluator (100k) were all slower with workers, so only CsvExampleGen reports its
    input size.

    Args:
        args: The Beam options the user gave.
        input_bytes: The size of the job's input; None when the component does not
            say, which keeps the default.
        cores: CPU cores usable; default: those this process may run on.

    Returns:
        ``(options to add, reason)``; the reason is empty when ``input_bytes`` is
        None.

    Example:
        >>> choose_local_mode([], 3_000_000_000, cores=2)[0]
        ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
        >>> choose_local_mode([], 50_000_000, cores=2)[0]
        []
        >>> choose_local_mode(["--direct_running_mode=in_memory"], 3 * 10**9)[0]
        []
    """
    if input_bytes is None:
        return [], ""
    given = [a for a in args if a.split("=", 1)[0] in _MODE_OPTIONS]
    size = f"{_in_words(input_bytes)} of input"
    if given:
        return [], f"{size}; the Beam options {given} decide the runner, as given"
    if input_bytes < LARGE_INPUT_BYTES:
        return [], (
            f"{size}, under {_in_words(LARGE_INPUT_BYTES)}: {DEFAULT_RUNNER} in "
            f"memory, one process"
        )
    cores = cores or _usable_cores()
    if cores < 2:
        return [], f"{size}, but one CPU core: {DEFAULT_RUNNER} in memory"
    workers = min(cores, MAX_AUTO_WORKERS)
    return [
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={workers}",
    ], (
        f"{size}, at least {_in_words(LARGE_INPUT_BYTES)}: {DEFAULT_RUNNER} "
        f"multi_processing with {workers} workers (pass "
        f"--direct_running_mode=in_memory to keep one process)"
    )


def _in_words(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_beam_pipeline(
    args: Sequence[str] = (),
    *,
    job_label: str | None = None,
    input_bytes: int | None = None,
) -> Any:
    """A ``beam.Pipeline`` over ``beam_options(args)``; use it as a context manager.

    Options that choose DataflowRunner are checked and completed first by
    ``components.dataflow.make_dataflow_pipeline`` (SDK from the worker container,
    mlpipe's package for the workers, a job name starting with ``job_label``);
    with ``--dry_run=True`` as well, ``run()`` translates the job offline and raises
    ``components.dataflow.DataflowDryRun`` instead of returning.

    Args:
        args: Beam options, e.g. ``context.beam_pipeline_args``.
        job_label: Names the job on runners that show names (Dataflow):
            ``job_label(context)``.
        input_bytes: The size of the job's input, for components whose local
            running mode should follow it (``choose_local_mode``); the choice and
            its reason are logged.

    Example:
        >>> import apache_beam as beam
        >>> with make_beam_pipeline() as p:
        ...     _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x)
    """
    import apache_beam as beam

    from pipeline.runners.dataflow_options import is_dataflow

    if is_dataflow(args):
        from components.dataflow import make_dataflow_pipeline

        return make_dataflow_pipeline(args, job_label=job_label)
    added, reason = choose_local_mode(args, input_bytes)
    if reason:
        log.info("%s: %s", job_label or "Beam job", reason)
    return beam.Pipeline(options=beam_options([*args, *added]))


def job_label(context: Any) -> str:
    """``<pipeline>-<component id>``: what a component's Beam job names start with.

    Example:
        >>> from pipeline import ExecutionContext
        >>> job_label(ExecutionContext("taxi", "/tmp/r", "run-1", "stats", 3))
        'taxi-stats'
    """
    return f"{context.pipeline_name}-{context.component_id}"
