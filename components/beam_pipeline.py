"""Beam pipelines for components, built from the pass-through pipeline options.

Every component that does data work builds its pipeline here, so the options a user
gives (``Pipeline(beam_pipeline_args=...)``, ``.with_beam_args(...)``,
``mlpipe run --beam-arg=...``) reach every Beam job the same way.

Example:
    >>> options = beam_options(["--direct_num_workers=2"])
    >>> options.get_all_options()["runner"]
    'DirectRunner'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_RUNNER = "DirectRunner"


def beam_options(args: Sequence[str] = ()) -> Any:
    """Beam ``PipelineOptions`` from command-line style arguments.

    The runner defaults to the local DirectRunner: Beam's own default may first try to
    download the Prism runner, which stalls a machine without internet access.

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
