"""Helpers for the ExampleGen tests: the shared data sets, running a component's
function directly, and reading the examples it wrote back."""

import pathlib

import pytest

from pipeline import Examples, ExecutionContext

# Imported by the TFDS tests only; collecting its doctests would import TFDS every run.
collect_ignore = ["tiny_tfds.py"]

DATA = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "data"
TAXI = DATA / "chicago_taxi" / "data.csv"
TITANIC = DATA / "titanic" / "train.csv"
IRIS = DATA / "iris"
PENGUINS = DATA / "penguins" / "penguins_processed.csv"


def data_rows(path: pathlib.Path) -> int:
    """Rows below the header of a CSV file without line breaks inside values."""
    with open(path, newline="") as f:
        return sum(1 for line in f if line.strip()) - 1


def context(*beam_args: str) -> ExecutionContext:
    return ExecutionContext(
        pipeline_name="test",
        pipeline_root="/tmp",
        run_id="run",
        component_id="gen",
        execution_id=1,
        beam_pipeline_args=list(beam_args),
    )


@pytest.fixture
def run_gen(tmp_path):
    """Runs ``Component.fn`` into a fresh Examples artifact: (examples, result)."""
    count = 0

    def run(component, *, beam_args=(), **params):
        nonlocal count
        count += 1
        examples = Examples(uri=str(tmp_path / f"examples-{count}"))
        pathlib.Path(examples.uri).mkdir()
        result = component.fn(examples=examples, context=context(*beam_args), **params)
        return examples, result

    return run


def records(examples: Examples, split: str) -> list[bytes]:
    """Every serialized Example of a split, shard by shard."""
    from components.example_gen.tfrecord import read_records

    found = []
    shards = sorted(pathlib.Path(examples.split_uri(split)).glob("data-*.tfrecord.gz"))
    for shard in shards:
        with open(shard, "rb") as f:
            for batch in read_records(f, str(shard)):
                found += batch.to_pylist()
    return found


def rows(examples: Examples, split: str) -> list[dict]:
    """The split's examples decoded to {feature: [values]} (None where absent)."""
    from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

    found = records(examples, split)
    if not found:
        return []
    return ExamplesToRecordBatchDecoder().DecodeBatch(found).to_pylist()


def all_rows(examples: Examples) -> list[dict]:
    return [row for split in examples.split_names for row in rows(examples, split)]
