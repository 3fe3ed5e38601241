"""TfdsExampleGen: a prepared tensorflow-datasets dataset from a local data_dir."""

from __future__ import annotations

from typing import Any

from components.example_gen.splits import check_split_name, plan_splits
from pipeline import (
    DefinitionError,
    Examples,
    ExecutionContext,
    InputPath,
    Output,
    Parameter,
    component,
    did_you_mean,
    fs,
    source_version,
)

NAME = "TfdsExampleGen"


def _not_prepared(dataset: str, data_dir: str, why: str) -> DefinitionError:
    found = (
        sorted(n for n in fs.listdir(data_dir) if not n.startswith("."))
        if fs.isdir(data_dir)
        else []
    )
    there = f"it holds {found}" if found else "it does not exist or is empty"
    return DefinitionError(
        f"{NAME}: no prepared dataset {dataset!r} in data_dir {data_dir!r} ({why}; "
        f"{there}). {NAME} never downloads: prepare the dataset where there is "
        f"internet access (`tfds build {dataset.split(':')[0]} --data_dir=DIR`, or "
        f"builder.download_and_prepare()) and copy DIR here, or point data_dir at it."
    )


def _split_files(dataset: str, data_dir: str) -> dict[str, list[str]]:
    """Each split of the prepared dataset and its TFRecord shards."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(dataset, data_dir=data_dir, try_gcs=False)
        splits = dict(builder.info.splits)
        file_format = str(
            getattr(builder.info, "file_format", "tfrecord") or "tfrecord"
        )
    except Exception as exc:  # noqa: BLE001 - tfds raises many kinds; all mean "not here"
        raise _not_prepared(dataset, data_dir, f"{type(exc).__name__}") from exc
    if not splits:
        raise _not_prepared(dataset, data_dir, "it has no prepared splits")
    if "tfrecord" not in file_format.lower():
        raise DefinitionError(
            f"{NAME}: dataset {dataset!r} is stored as {file_format}; {NAME} reads "
            f"the tfrecord format. Prepare it with file_format='tfrecord'."
        )
    files = {name: [str(p) for p in info.filepaths] for name, info in splits.items()}
    for name, paths in files.items():
        missing = [p for p in paths if not fs.exists(p)]
        if missing:
            raise _not_prepared(dataset, data_dir, f"split {name!r} lacks {missing[0]}")
    return files


@component(name=NAME, version=source_version("components.example_gen"))
def TfdsExampleGen(
    examples: Output[Examples],
    dataset: str,
    data_dir: Parameter[InputPath],
    context: ExecutionContext = None,
    input_splits: dict[str, str] | None = None,
    output_splits: dict[str, float] | None = None,
    split_column: str | None = None,
) -> dict[str, Any]:
    """Copies a tensorflow-datasets dataset, already prepared in a local data_dir.

    Nothing is ever downloaded. The dataset's own splits are kept by default; its
    records (tf.Examples as TFDS serialized them) are copied as they are, so decode
    them with the dataset's features, or re-split them by hash with ``output_splits``.

    Args:
        examples: The output: ``Split-<name>/data-*.tfrecord.gz`` per split.
        dataset: The dataset's name, optionally with config and version:
            ``"mnist"``, ``"my_data/small:1.0.0"``.
        data_dir: The folder holding prepared datasets (``<data_dir>/<name>/...``).
        context: The run's context (given by the runner).
        input_splits: Which dataset splits to keep, under which names:
            ``{"train": "train", "eval": "test"}``; default: every split, as named.
        output_splits: Instead, re-split all the chosen splits' records by hash into
            these buckets, e.g. ``{"train": 4, "eval": 1}``.
        split_column: With ``output_splits``, hash this feature instead of the record.

    Returns:
        ``row_counts`` per split, ``bad_rows`` (always 0), ``files`` read and
        ``dataset_splits`` (the dataset's splits that were read).

    Raises:
        DefinitionError: The dataset is not prepared in ``data_dir``, or a bad option.
        InputDataError: A corrupt shard.

    Example:
        >>> gen = TfdsExampleGen(dataset="mnist", data_dir="/data/tfds")
        >>> sorted(gen.outputs)
        ['examples']
    """
    from components.example_gen import write
    from components.example_gen.bad_rows import Tolerance
    from components.example_gen.record_source import RecordSource
    from components.example_gen.spans import InputSelection

    if not isinstance(dataset, str) or not dataset:
        raise DefinitionError(f"{NAME}: dataset must be a name such as 'mnist'.")
    for name in input_splits or {}:
        check_split_name(NAME, name, "input_splits")
    available = _split_files(dataset, data_dir)
    chosen = dict(input_splits) if input_splits else {n: n for n in available}
    for source_split in chosen.values():
        if source_split not in available:
            raise DefinitionError(
                f"{NAME}: dataset {dataset!r} has no split {source_split!r}."
                f"{did_you_mean(str(source_split), available)} Its splits: "
                f"{sorted(available)}."
            )
    by_hash = output_splits is not None or split_column is not None
    splits = plan_splits(
        NAME, None if by_hash else list(chosen), output_splits, split_column
    )
    selection = InputSelection({out: available[src] for out, src in chosen.items()})
    facts = write.generate(
        owner=NAME,
        source=RecordSource(),
        tasks=write.make_tasks(selection, splits),
        selection=selection,
        splits=splits,
        tolerance=Tolerance(),
        examples=examples,
        context=context,
    )
    return {**facts, "dataset_splits": sorted(set(chosen.values()))}
