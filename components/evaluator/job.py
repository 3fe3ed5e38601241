"""The Evaluator's Beam job: one pass over a split, every model, every slice.

Read the split's shards → fixed-size batches of serialized examples → a ``DoFn``
that loads each model once per worker (``setup``), calls its ``evaluate`` signature
on the batch, computes every example's slice keys from the raw examples, and emits
the batch, cut by slice, keyed by ``(model, slice)`` → ``CombinePerKey`` folds the
pieces into ``metrics.Accumulator``s → the metrics (and user metrics) of each key
are computed and written, with the slicing features found, to a temporary folder
for the component to read back.

Example:
    >>> group_by_slice([[(), ("a",)], [(), ("b",)], [(), ("a",)]])
    {('a',): [0, 2], ('b',): [1]}
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
import numpy as np

from components.evaluator import metrics as metrics_lib
from components.evaluator import slicing, user_metrics
from components.evaluator.model import EvalModel, EvalSignature
from pipeline import fs

_RESULTS_FILE = "slices.pickle"
_FEATURES_FILE = "features.pickle"
#: A worker logs its progress every this many examples.
_LOG_EVERY = 100_000


@dataclasses.dataclass(frozen=True)
class EvalJob:
    """What to evaluate.

    Attributes:
        pattern: The glob of the split's shards.
        models: The checked signatures by role: ``"model"`` and, when given,
            ``"baseline_model"``.
        specs: The checked slicing specs.
        batch_size: Examples per call of a model.
        metrics_module: The user's metrics module file, or None.
        temp_dir: A folder for the job's results; removed by the caller.
        log_name: The logger the workers report progress to.
    """

    pattern: str
    models: dict[str, EvalSignature]
    specs: list[tuple[str, ...]]
    batch_size: int
    metrics_module: str | None
    temp_dir: str
    log_name: str = "mlpipe"


@dataclasses.dataclass(frozen=True)
class SliceResult:
    """One model's metrics on one slice."""

    key: slicing.SliceKey
    metrics: dict[str, float]
    plots: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What the job found.

    Attributes:
        slices: Each model's ``SliceResult``s by role, overall first, then by spec
            and value.
        slicing_features: The slicing features found in at least one example.
        seconds: The job's wall time, Beam's start-up included.
    """

    slices: dict[str, list[SliceResult]]
    slicing_features: set[str]
    seconds: float

    @property
    def examples(self) -> int:
        """The number of examples evaluated."""
        found = self.slices["model"]
        return int(found[0].metrics["example_count"]) if found else 0


def run(job: EvalJob, beam_args: Sequence[str]) -> JobResult:
    """Builds and runs the job; returns what it wrote to ``job.temp_dir``."""
    from components.beam_pipeline import make_beam_pipeline

    started = time.monotonic()
    # log_name is the runner's logger of the component, mlpipe.<component id>.
    label = job.log_name.rpartition(".")[2]
    # validate=False: the files were just listed; Beam would list them again while
    # building the pipeline, which stalls on some remote file systems.
    with make_beam_pipeline(beam_args, job_label=label) as pipeline:
        evaluated = (
            pipeline
            | "Read"
            >> beam.io.ReadFromTFRecord(
                job.pattern, coder=beam.coders.BytesCoder(), validate=False
            )
            | "Batch"
            >> beam.BatchElements(
                min_batch_size=job.batch_size, max_batch_size=job.batch_size
            )
            # Any: Beam infers a union from process()'s yields (tagged sets and
            # keyed batches) and would refuse it as CombinePerKey's input.
            | "Evaluate"
            >> beam.ParDo(_Evaluate(job.models, job.specs, job.log_name))
            .with_output_types(Any)
            .with_outputs("features", main="slices")
        )
        _ = (
            evaluated.slices
            | "Combine"
            >> beam.CombinePerKey(_CombineSlice(job.metrics_module is not None))
            | "Compute" >> beam.ParDo(_Compute(job.metrics_module))
            | "Collect" >> beam.combiners.ToList()
            | "WriteMetrics" >> beam.Map(_write, fs.join(job.temp_dir, _RESULTS_FILE))
        )
        _ = (
            evaluated.features
            | "Union" >> beam.CombineGlobally(_union)
            | "WriteFeatures" >> beam.Map(_write, fs.join(job.temp_dir, _FEATURES_FILE))
        )
    seconds = time.monotonic() - started
    found = pickle.loads(fs.read_bytes(fs.join(job.temp_dir, _RESULTS_FILE)))
    found_features = pickle.loads(fs.read_bytes(fs.join(job.temp_dir, _FEATURES_FILE)))
    slices: dict[str, list[SliceResult]] = {role: [] for role in job.models}
    for role, result in found:
        slices[role].append(result)
    order = slicing.SliceKeys(job.specs)
    for results in slices.values():
        results.sort(key=lambda r: (order.spec_index(r.key), slicing.sort_key(r.key)))
    return JobResult(slices, found_features, seconds)


def group_by_slice(keys: list[list[slicing.SliceKey]]) -> dict[Any, list[int]]:
    """The positions of the examples in each slice but the overall one (first)."""
    groups: dict[Any, list[int]] = {}
    for position, example_keys in enumerate(keys):
        for key in example_keys[1:]:
            groups.setdefault(key, []).append(position)
    return groups


def _write(value, path):
    fs.write_bytes(path, pickle.dumps(value))


def feature_names(pattern: str, limit: int = 100_000) -> set[str]:
    """The feature names of the first ``limit`` examples of the shards at
    ``pattern`` (for suggestions when a slicing feature is never found)."""
    import itertools

    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    records = tf.data.TFRecordDataset(fs.glob(pattern), compression_type="GZIP")
    names: set[str] = set()
    for record in itertools.islice(records.as_numpy_iterator(), limit):
        names.update(example_pb2.Example.FromString(record).features.feature.keys())
    return names


def _union(sets):
    return set().union(*sets)


class _Evaluate(beam.DoFn):
    """Calls every model on a batch and cuts the outputs by slice."""

    def __init__(
        self,
        signatures: dict[str, EvalSignature],
        specs: list[tuple[str, ...]],
        log_name: str,
    ):
        self._signatures = signatures
        self._specs = specs
        self._log_name = log_name

    def setup(self) -> None:
        self._models = {role: EvalModel(s) for role, s in self._signatures.items()}
        self._slicer = slicing.SliceKeys(self._specs)
        self._log = logging.getLogger(self._log_name)
        self._count, self._started = 0, time.monotonic()

    def process(self, records):
        groups: dict[Any, list[int]] = {}
        if self._specs:
            found: set[str] = set()
            groups = group_by_slice(self._slicer.keys_of_serialized(records, found))
            yield beam.pvalue.TaggedOutput("features", found)
        indexes = {key: np.asarray(positions) for key, positions in groups.items()}
        for role, model in self._models.items():
            batch = model.predict(records)
            yield (role, slicing.OVERALL), batch
            for key, index in indexes.items():
                yield (role, key), batch.take(index)
        before, self._count = self._count, self._count + len(records)
        if self._count // _LOG_EVERY > before // _LOG_EVERY:
            elapsed = time.monotonic() - self._started
            self._log.info(
                "%d examples evaluated by this worker (%.0f examples/s)",
                self._count,
                self._count / max(elapsed, 1e-9),
            )


class _CombineSlice(beam.CombineFn):
    """Folds the batches of one (model, slice) into a ``metrics.Accumulator``."""

    def __init__(self, keep_batches: bool):
        self._keep_batches = keep_batches

    def create_accumulator(self):
        return metrics_lib.Accumulator(self._keep_batches)

    def add_input(self, accumulator, batch):
        accumulator.add(batch)
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged.merge(other)
        return merged

    def extract_output(self, accumulator):
        return accumulator


class _Compute(beam.DoFn):
    """The metrics of each (model, slice), user metrics included."""

    def __init__(self, metrics_module: str | None):
        self._metrics_module = metrics_module

    def setup(self) -> None:
        from components.dataflow import worker_path

        self._user = (
            user_metrics.load_metrics("Evaluator", worker_path(self._metrics_module))
            if self._metrics_module
            else {}
        )

    def process(self, element):
        (role, key), accumulator = element
        metrics, plots = accumulator.result()
        if self._user and accumulator.batches:
            batch = metrics_lib.Batch.concatenate(accumulator.batches)
            where = f"slice {slicing.slice_name(key)!r} of {role}"
            metrics.update(
                user_metrics.compute(
                    self._user,
                    batch.labels,
                    batch.predictions,
                    batch.weights_or_ones(),
                    where,
                )
            )
        yield role, SliceResult(key, metrics, plots)
