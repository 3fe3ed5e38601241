"""The Evaluator in a real pipeline on the taxi data: a SQLite store, a baseline,
the blessing in the store, ``mlpipe show`` of the evaluation, and the cache."""

import collections
import pathlib
import re

import pytest

from components.evaluator import Evaluator
from pipeline import Examples, Model, Output, Parameter, Pipeline, component
from tests.components.evaluator.conftest import save_taxi_classifier
from tests.components.test_statistics_gen import taxi_split, write_examples


@component
def write_taxi_eval(examples: Output[Examples]):
    """The taxi rows of the eval split as Examples (a stand-in for ExampleGen)."""
    written = write_examples(examples.uri, {"eval": taxi_split("eval")})
    examples.split_names = written.split_names
    examples.row_counts = written.row_counts


@component
def train_taxi(model: Output[Model], card_weight: Parameter[float] = 3.5):
    """Saves the hand-made big_tipper model (a stand-in for the Trainer)."""
    save_taxi_classifier(model.uri, card_weight=card_weight)


@pytest.mark.slow
def test_evaluator_in_a_pipeline_with_a_baseline(tmp_path, store_url, capsys):
    from pipeline import MetadataStore
    from pipeline.cli import main

    def build():
        gen = write_taxi_eval()
        trainer = train_taxi()
        baseline = train_taxi(card_weight=0.0).with_id("baseline_trainer")
        evaluator = Evaluator(
            examples=gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=baseline.outputs["model"],
            slicing_specs=[["trip_start_hour"]],
            thresholds={
                "auc": {"lower_bound": 0.8, "change_vs_baseline": {"min_absolute": 0}}
            },
        )
        return Pipeline(
            "taxi_eval",
            [gen, trainer, baseline, evaluator],
            root=tmp_path / "root",
            store=store_url,
        )

    result = build().run()
    assert result.state == "COMPLETE"
    evaluation = result.artifact("Evaluator", "evaluation")
    blessing = result.artifact("Evaluator", "blessing")
    with MetadataStore(store_url) as store:
        stored = store.get_artifact(blessing.id)
        execution = store.get_execution(result.executions["Evaluator"].id)
        inputs = store.inputs_of(execution.id)
    assert stored.blessed is True
    assert len(stored.reasons) == 2 and stored.reasons[1].startswith(
        "auc change vs baseline +"
    )
    assert execution.component_id == "Evaluator"
    assert execution.result["examples"] == len(taxi_split("eval")) == 5000
    assert execution.result["slices"] == 24
    assert execution.result["blessed"] is True
    assert sorted(inputs) == ["baseline_model", "examples", "model"]
    assert pathlib.Path(blessing.uri, "BLESSED").is_file()
    assert pathlib.Path(evaluation.report_path).is_file()

    assert main(["show", str(evaluation.id), "--store", store_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"  blessing: BLESSED (ModelBlessing #{blessing.id})" in lines
    assert lines[lines.index(f"    {stored.reasons[0]}") - 1].startswith("  blessing")
    header = next(line for line in lines if line.startswith("slice "))
    assert header.split() == [
        "slice",
        "example_count",
        "accuracy",
        "precision",
        "recall",
        "auc",
        "auc_precision_recall",
        "log_loss",
        "mean_label",
        "mean_prediction",
        "calibration",
    ]
    counts = collections.Counter(int(r["trip_start_hour"]) for r in taxi_split("eval"))
    for hour in (0, 19):
        assert re.search(
            rf"^trip_start_hour={hour}\s+{counts[hour]}\s", "\n".join(lines), re.M
        )
    assert re.search(r"^Overall \(baseline\)\s+5000\s", "\n".join(lines), re.M)

    again = build().run()
    assert again.executions["Evaluator"].state.value == "CACHED"
