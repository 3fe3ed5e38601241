"""``mlpipe show <id>`` of a ModelEvaluation: the blessing verdict and a metrics table.

The evaluations here are written by small components in the layout of the
Evaluator's metrics.json (docs/evaluator.md), so these tests need neither TensorFlow
nor Beam; tests/components/evaluator/test_pipeline.py shows a real Evaluator's.
"""

import json
import pathlib

import pytest

from pipeline import (
    Input,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Output,
    Parameter,
    Pipeline,
    component,
)
from pipeline.cli import main
from pipeline.metadata import MetadataStore


def metrics(count, auc, accuracy):
    return {"example_count": count, "accuracy": accuracy, "auc": auc, "log_loss": None}


def document(slices=2, baseline=True):
    return {
        "version": 1,
        "split": "eval",
        "examples": "/r/examples/1",
        "model": {"uri": "/r/model/2", "model_type": "classification", "classes": 2},
        "baseline": {"uri": "/r/model/1"} if baseline else None,
        "slicing_specs": [["hour"]],
        "overall": {"slice": {}, "metrics": metrics(300, 0.91234, 0.8), "plots": {}},
        "slices": [
            {"slice": {"hour": h}, "metrics": metrics(100 + h, 0.9, 0.75), "plots": {}}
            for h in range(slices)
        ],
        "baseline_metrics": {
            "overall": {"slice": {}, "metrics": metrics(300, 0.85, 0.7), "plots": {}},
            "slices": [],
        }
        if baseline
        else None,
        "thresholds": [],
        "blessed": False,
        "reasons": ["auc 0.91234 < lower_bound 0.95"],
    }


@component
def train(model: Output[Model]):
    """A model artifact to evaluate."""


@component
def evaluate(
    model: Input[Model],
    evaluation: Output[ModelEvaluation],
    blessing: Output[ModelBlessing],
    slices: Parameter[int] = 2,
):
    """Writes metrics.json as the Evaluator does, and a blessing."""
    doc = document(slices)
    pathlib.Path(evaluation.uri, "metrics.json").write_text(json.dumps(doc))
    blessing.blessed = doc["blessed"]
    blessing.reasons = doc["reasons"]


@component
def evaluate_only(model: Input[Model], evaluation: Output[ModelEvaluation]):
    """Writes metrics.json without a blessing output."""
    doc = document(baseline=False)
    doc["blessed"], doc["reasons"] = True, ["no thresholds set: blessed without checks"]
    pathlib.Path(evaluation.uri, "metrics.json").write_text(json.dumps(doc))


@component
def evaluate_nothing(model: Input[Model], evaluation: Output[ModelEvaluation]):
    """Leaves metrics.json out."""


@pytest.fixture
def show(capsys, tmp_path, store_url):
    """Runs a pipeline of ``train`` and one evaluating component, then shows the
    evaluation; returns the lines printed and the artifact id."""

    def run(evaluator, **params):
        trainer = train()
        node = evaluator(model=trainer.outputs["model"], **params)
        Pipeline("p", [trainer, node], root=tmp_path / "root", store=store_url).run()
        with MetadataStore(store_url) as store:
            [artifact] = store.get_artifacts(type_name="ModelEvaluation")
            blessings = store.get_artifacts(type_name="ModelBlessing")
        assert main(["show", str(artifact.id), "--store", store_url]) == 0
        return capsys.readouterr().out.splitlines(), artifact, blessings

    return run


def test_the_verdict_comes_from_the_blessing_and_the_table_from_metrics_json(show):
    lines, _, [blessing] = show(evaluate)
    with_blessing = [line for line in lines if line.startswith("  blessing: ")]
    assert with_blessing == [f"  blessing: NOT BLESSED (ModelBlessing #{blessing.id})"]
    assert "    auc 0.91234 < lower_bound 0.95" in lines
    start = lines.index(
        "Metrics of split 'eval', model /r/model/2, baseline /r/model/1:"
    )
    assert lines[start + 1 :] == [
        "slice               example_count  accuracy  auc     log_loss",
        "Overall             300            0.8       0.9123  -",
        "Overall (baseline)  300            0.7       0.85    -",
        "hour=0              100            0.75      0.9     -",
        "hour=1              101            0.75      0.9     -",
    ]


def test_without_a_blessing_the_verdict_comes_from_metrics_json(show):
    lines, _, _ = show(evaluate_only)
    assert "  blessing: BLESSED (from metrics.json)" in lines
    assert "Metrics of split 'eval', model /r/model/2:" in lines
    assert lines[-1].startswith("hour=1 ")


def test_many_slices_are_cut_short(show):
    lines, artifact, _ = show(evaluate, slices=53)
    assert lines[-2].startswith("hour=49 ")
    assert lines[-1] == (
        f"... and 3 more slices in {pathlib.Path(artifact.uri) / 'metrics.json'}"
    )


def test_an_unreadable_evaluation_says_so(show):
    lines, artifact, _ = show(evaluate_nothing)
    path = pathlib.Path(artifact.uri) / "metrics.json"
    assert lines[-1] == (
        f"  metrics: cannot be read from {path}: FileNotFoundError: [Errno 2] No such "
        f"file or directory: '{path}'"
    )
