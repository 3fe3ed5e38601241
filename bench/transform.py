"""What the Transform component costs over calling tensorflow-transform directly.

On the taxi-like Examples of ``bench/input_fn.py`` (written once, then reused) and
with the taxi module of the tests (z-scores, vocabularies, quantile buckets, a label
from two columns), each pass analyzes and transforms the train split and writes the
transform graph and the transformed examples, two ways:

- ``direct``: a hand-written Beam pipeline: tfx_bsl's ``TFExampleRecord`` source,
  ``tft_beam.AnalyzeAndTransformDataset``, ``WriteTransformFn``, the transformed
  record batches encoded to tf.Example and written as gzip TFRecords;
- ``Transform``: the component's function, ``Transform.fn(...)``, doing the same and
  also loading the module file, checking splits and schema, writing the raw schema
  and counting the examples.

Both use the same runner (``make_beam_pipeline``, Beam's FnApiRunner in memory
unless ``--beam-arg`` says otherwise). The two take turns; each figure is the median
of ``--repeats`` passes after one warm-up pass of each.

Usage:
    python bench/transform.py [--rows 1000000] [--shards 8] [--repeats 3]
                              [--data /tmp/mlpipe-bench-input-fn] [--beam-arg ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TAXI_MODULE = REPO / "tests" / "components" / "transform" / "taxi_module.py"


def _bench_input_fn():
    spec = importlib.util.spec_from_file_location(
        "bench_input_fn", REPO / "bench" / "input_fn.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_direct(pattern: str, schema_path: str, out: str, beam_args: list[str]) -> None:
    """AnalyzeAndTransformDataset by hand, writing what Transform writes."""
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx_bsl.coders import example_coder
    from tfx_bsl.tfxio import tf_example_record

    from components.beam_pipeline import make_beam_pipeline

    namespace: dict = {}
    exec(compile(TAXI_MODULE.read_text(), str(TAXI_MODULE), "exec"), namespace)  # noqa: S102
    schema = text_format.Parse(
        pathlib.Path(schema_path).read_text(), schema_pb2.Schema()
    )

    def encode(element, transformed_schema):
        record_batch, _ = element
        return example_coder.RecordBatchToExamplesEncoder(transformed_schema).encode(
            record_batch
        )

    with (
        make_beam_pipeline(beam_args) as pipeline,
        tft_beam.Context(temp_dir=os.path.join(out, "tmp")),
    ):
        source = tf_example_record.TFExampleRecord(
            pattern, validate=False, schema=schema
        )
        raw = pipeline | "Read" >> source.BeamSource()
        (transformed, metadata), transform_fn = (
            raw,
            source.TensorAdapterConfig(),
        ) | "AnalyzeAndTransform" >> tft_beam.AnalyzeAndTransformDataset(
            namespace["preprocessing_fn"], output_record_batches=True
        )
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(
            os.path.join(out, "transform_graph")
        )
        transformed_schema = beam.pvalue.AsSingleton(
            metadata.deferred_metadata | beam.Map(lambda m: m.schema)
        )
        _ = (
            transformed
            | "Encode" >> beam.FlatMap(encode, transformed_schema)
            | "Write"
            >> beam.io.WriteToTFRecord(
                os.path.join(out, "examples", "Split-train", "data"),
                file_name_suffix=".tfrecord.gz",
                compression_type=beam.io.filesystem.CompressionTypes.GZIP,
            )
        )


def run_component(examples_uri: str, schema_dir: str, out: str, beam_args: list[str]):
    """Transform's function over the same data."""
    from components.transform import Transform
    from pipeline import Examples, ExecutionContext, Schema, TransformGraph

    graph = TransformGraph(uri=os.path.join(out, "transform_graph"))
    transformed = Examples(uri=os.path.join(out, "transformed_examples"))
    for artifact in (graph, transformed):
        os.makedirs(artifact.uri)
    return Transform.fn(
        examples=Examples(uri=examples_uri, properties={"split_names": ["train"]}),
        schema=Schema(uri=schema_dir),
        module_file=str(TAXI_MODULE),
        transform_graph=graph,
        transformed_examples=transformed,
        context=ExecutionContext(
            pipeline_name="bench",
            pipeline_root=out,
            run_id="bench",
            component_id="transform",
            execution_id=1,
            beam_pipeline_args=beam_args,
        ),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=os.path.join("/tmp", "mlpipe-bench-input-fn"))
    parser.add_argument("--beam-arg", action="append", default=[])
    args = parser.parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)

    folder = pathlib.Path(args.data)
    meta_path = folder / "meta.json"
    wanted = {"rows": args.rows, "shards": args.shards, "seed": args.seed}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if {k: meta.get(k) for k in wanted} != wanted:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing {args.rows:,} rows in {args.shards} shards to {folder} ...")
        meta = _bench_input_fn().write_taxi_examples(
            folder, args.rows, args.shards, args.seed
        )
    examples_uri = str(folder / "examples")
    pattern = os.path.join(examples_uri, "Split-train", "data-*.tfrecord.gz")
    schema_dir = str(folder / "schema")
    print(f"data: {meta['rows']:,} rows in {meta['shards']} gzip shards")

    modes = {
        "direct": lambda out: run_direct(
            pattern, os.path.join(schema_dir, "schema.pbtxt"), out, args.beam_arg
        ),
        "Transform": lambda out: run_component(
            examples_uri, schema_dir, out, args.beam_arg
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    for repeat in range(args.repeats + 1):
        for name, run in modes.items():
            out = tempfile.mkdtemp(prefix="mlpipe-bench-transform-")
            started = time.perf_counter()
            run(out)
            elapsed = time.perf_counter() - started
            shutil.rmtree(out, ignore_errors=True)
            label = "warm-up" if repeat == 0 else f"pass {repeat}"
            print(f"  {label} {name}: {elapsed:.1f} s", flush=True)
            if repeat:
                times[name].append(elapsed)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"\n{stamp}; {meta['rows']:,} rows, median of {args.repeats}; Python "
        f"{platform.python_version()}, {platform.platform()}, {os.cpu_count()} cores; "
        f"Beam args {args.beam_arg or '(none: FnApiRunner in memory)'}"
    )
    direct = statistics.median(times["direct"])
    best_direct = min(times["direct"])
    print(
        "| how | median time | rows/s | overhead vs direct | best time | best vs best |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        print(
            f"| {name} | {median:.1f} s | {meta['rows'] / median:,.0f} | "
            f"{(median - direct) / direct:+.1%} | {best:.1f} s | "
            f"{(best - best_direct) / best_direct:+.1%} |"
        )
    print(
        "all passes:",
        json.dumps({k: [round(v, 2) for v in t] for k, t in times.items()}),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
