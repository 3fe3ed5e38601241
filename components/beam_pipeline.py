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


def make_beam_pipeline(args: Sequence[str] = ()) -> Any:
    """A ``beam.Pipeline`` over ``beam_options(args)``; use it as a context manager.

    Example:
        >>> import apache_beam as beam
        >>> with make_beam_pipeline() as p:
        ...     _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x)
    """
    import apache_beam as beam

    return beam.Pipeline(options=beam_options(args))
