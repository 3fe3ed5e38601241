"""Beam pipelines for components, built from the pass-through pipeline options.

Every component that does data work builds its pipeline here, so the options a user
gives (``Pipeline(beam_pipeline_args=...)``, ``.with_beam_args(...)``,
``mlpipe run --beam-arg=...``) reach every Beam job the same way.

Example:
    >>> options = beam_options(["--direct_num_workers=2"])
    >>> options.get_all_options()["runner"]
    'FnApiRunner'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_RUNNER = "FnApiRunner"


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


def make_beam_pipeline(
    args: Sequence[str] = (), *, job_label: str | None = None
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
    return beam.Pipeline(options=beam_options(args))


def job_label(context: Any) -> str:
    """``<pipeline>-<component id>``: what a component's Beam job names start with.

    Example:
        >>> from pipeline import ExecutionContext
        >>> job_label(ExecutionContext("taxi", "/tmp/r", "run-1", "stats", 3))
        'taxi-stats'
    """
    return f"{context.pipeline_name}-{context.component_id}"
