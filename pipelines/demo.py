"""The demo pipeline: penguins CSV → split → statistics → model → evaluation → push.

Five function components in plain Python (no TensorFlow needed) show the whole shape of
an mlpipe pipeline: typed artifacts passed by handles, parameters, a blessing that gates
the push, caching of unchanged steps and lineage in the metadata store.

Run it with ``make demo`` or ``mlpipe run pipelines/demo.py``; run it again and every
step is reused from the cache. The standard TensorFlow components replace these steps
in the full example pipelines.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil

from pipeline import (
    Examples,
    ExampleStatistics,
    ExecutionContext,
    Input,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Output,
    Parameter,
    Pipeline,
    PushedModel,
    component,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def _read_rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _write_rows(path: str, rows: list[dict[str, str]], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


@component
def split_csv(
    examples: Output[Examples],
    csv_path: Parameter[str],
    eval_percent: Parameter[int] = 33,
):
    """Splits a CSV file into train and eval by a hash of each row (stable across runs)."""
    rows = _read_rows(csv_path)
    if not rows:
        raise ValueError(f"{csv_path} has no data rows")
    splits: dict[str, list[dict[str, str]]] = {"train": [], "eval": []}
    for row in rows:
        digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") % 100
        splits["eval" if bucket < eval_percent else "train"].append(row)
    for name, split_rows in splits.items():
        os.makedirs(examples.split_uri(name))
        _write_rows(
            os.path.join(examples.split_uri(name), "rows.csv"),
            split_rows,
            list(rows[0]),
        )
    examples.split_names = list(splits)
    examples.row_counts = {name: len(split_rows) for name, split_rows in splits.items()}
    return {"rows": len(rows)}


@component
def summarize_columns(examples: Input[Examples], statistics: Output[ExampleStatistics]):
    """Computes count, mean, standard deviation, min and max of every column per split."""
    for split in examples.split_names:
        rows = _read_rows(os.path.join(examples.split_uri(split), "rows.csv"))
        summary = {}
        for column in rows[0]:
            values = [float(row[column]) for row in rows]
            mean = sum(values) / len(values)
            summary[column] = {
                "count": len(values),
                "mean": mean,
                "std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)),
                "min": min(values),
                "max": max(values),
            }
        os.makedirs(statistics.split_uri(split))
        with open(os.path.join(statistics.split_uri(split), "stats.json"), "w") as f:
            json.dump(summary, f, indent=2)
    statistics.split_names = list(examples.split_names)


def _features(row: dict[str, str], label: str) -> list[float]:
    return [float(value) for column, value in row.items() if column != label]


@component
def fit_centroids(
    examples: Input[Examples], model: Output[Model], label: Parameter[str] = "species"
):
    """Fits a nearest-centroid classifier on the train split."""
    sums: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for row in _read_rows(os.path.join(examples.split_uri("train"), "rows.csv")):
        features = _features(row, label)
        total = sums.setdefault(row[label], [0.0] * len(features))
        sums[row[label]] = [a + b for a, b in zip(total, features)]
        counts[row[label]] = counts.get(row[label], 0) + 1
    centroids = {cls: [v / counts[cls] for v in total] for cls, total in sums.items()}
    os.makedirs(model.serving_model_dir)
    with open(os.path.join(model.serving_model_dir, "centroids.json"), "w") as f:
        json.dump({"label": label, "centroids": centroids}, f, indent=2)
    return {"classes": len(centroids)}


@component
def evaluate_model(
    examples: Input[Examples],
    model: Input[Model],
    evaluation: Output[ModelEvaluation],
    blessing: Output[ModelBlessing],
    min_accuracy: Parameter[float] = 0.8,
):
    """Measures accuracy on the eval split and blesses the model if it is high enough."""
    with open(os.path.join(model.serving_model_dir, "centroids.json")) as f:
        saved = json.load(f)
    label, centroids = saved["label"], saved["centroids"]
    rows = _read_rows(os.path.join(examples.split_uri("eval"), "rows.csv"))
    correct = 0
    for row in rows:
        features = _features(row, label)
        nearest = min(
            centroids,
            key=lambda cls: sum((a - b) ** 2 for a, b in zip(features, centroids[cls])),
        )
        correct += nearest == row[label]
    accuracy = correct / len(rows)
    with open(os.path.join(evaluation.uri, "metrics.json"), "w") as f:
        json.dump({"accuracy": accuracy, "example_count": len(rows)}, f, indent=2)
    blessing.blessed = accuracy >= min_accuracy
    blessing.reasons = [
        f"accuracy {accuracy:.3f} {'>=' if blessing.blessed else '<'} {min_accuracy}"
    ]
    return {"accuracy": accuracy}


@component
def push_model(
    model: Input[Model],
    blessing: Input[ModelBlessing],
    pushed: Output[PushedModel],
    context: ExecutionContext,
    destination: Parameter[str] = "",
):
    """Copies a blessed model to ``<destination>/<version>/``, atomically.

    The destination defaults to ``<pipeline root>/serving``.
    """
    destination = destination or os.path.join(context.pipeline_root, "serving")
    pushed.destination = destination
    if not blessing.blessed:
        pushed.pushed = False
        return {"pushed": False, "reason": "model not blessed"}
    os.makedirs(destination, exist_ok=True)
    versions = [int(name) for name in os.listdir(destination) if name.isdigit()]
    version = max(versions, default=0) + 1
    aside = os.path.join(destination, f".{version}.incoming")
    shutil.copytree(model.serving_model_dir, aside)
    os.rename(aside, os.path.join(destination, str(version)))
    pushed.pushed, pushed.version = True, version
    return {"pushed": True, "version": version}


def create_pipeline(root: str = os.path.join(HERE, "..", "runs", "demo")) -> Pipeline:
    """The demo pipeline over the penguins sample in ``pipelines/data``."""
    root = os.path.abspath(root)
    split = split_csv(csv_path=os.path.join(HERE, "data", "penguins.csv"))
    statistics = summarize_columns(examples=split.outputs["examples"])
    trainer = fit_centroids(examples=split.outputs["examples"])
    evaluator = evaluate_model(
        examples=split.outputs["examples"],
        model=trainer.outputs["model"],
        min_accuracy=0.7,
    )
    pusher = push_model(
        model=trainer.outputs["model"], blessing=evaluator.outputs["blessing"]
    )
    return Pipeline("demo", [split, statistics, trainer, evaluator, pusher], root=root)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    create_pipeline().run()
