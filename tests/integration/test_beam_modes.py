"""The taxi pipeline gives the same artifacts in memory and with 2 worker processes.

The pipeline runs twice, into two fresh roots and stores: with the default local
runner (Beam's FnApiRunner in memory, since the taxi CSV is small) and with
``--direct_running_mode=multi_processing --direct_num_workers=2``. Everything that
does not depend on training must be identical: the ExampleGen's split, the
statistics' counts, the schema, the transformed row counts, the evaluated example
counts. Training is not seeded, so metrics of the model agree within noise.
"""

from __future__ import annotations

import json
import logging

import pytest

pytestmark = pytest.mark.slow

STEPS = {"train_steps": 100, "eval_steps": 20}
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
AUC_NOISE = 0.05


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The taxi pipeline once per local mode: ``{"in_memory": ..., "multi": ...}``."""
    from pipelines.taxi.pipeline import create_pipeline

    results, mode_logs = {}, {}
    handler = _Recorder()
    beam_log = logging.getLogger("mlpipe.beam")
    beam_log.addHandler(handler)
    level = beam_log.level
    beam_log.setLevel(logging.INFO)
    try:
        for mode, args in (("in_memory", []), ("multi", MULTI_PROCESSING)):
            handler.messages = []
            root = tmp_path_factory.mktemp(f"taxi-{mode}") / "root"
            results[mode] = create_pipeline(root=str(root), **STEPS).run(
                beam_pipeline_args=args
            )
            mode_logs[mode] = handler.messages
    finally:
        beam_log.removeHandler(handler)
        beam_log.setLevel(level)
    return {**results, "logs": mode_logs}


class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _result(run, component_id: str) -> dict:
    return run.executions[component_id].result


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_both_runs_complete_and_the_mode_was_the_one_asked_for(runs):
    for mode in ("in_memory", "multi"):
        states = {e.state.value for e in runs[mode].executions.values()}
        assert states == {"COMPLETE"}, (mode, states)
    (chosen,) = [m for m in runs["logs"]["in_memory"] if "CsvExampleGen" in m]
    assert "in memory, one process" in chosen
    (kept,) = [m for m in runs["logs"]["multi"] if "CsvExampleGen" in m]
    assert "--direct_running_mode=multi_processing" in kept and "as given" in kept


def test_example_gen_splits_identically(runs):
    counts = {
        mode: runs[mode].artifact("CsvExampleGen", "examples").row_counts
        for mode in ("in_memory", "multi")
    }
    assert counts["in_memory"] == counts["multi"]
    assert sum(counts["multi"].values()) == 15002
    assert _result(runs["in_memory"], "CsvExampleGen") == _result(
        runs["multi"], "CsvExampleGen"
    )


def test_statistics_count_the_same_examples(runs):
    assert (
        _result(runs["in_memory"], "StatisticsGen")["num_examples"]
        == _result(runs["multi"], "StatisticsGen")["num_examples"]
    )


def test_schemas_are_identical(runs):
    texts = {
        mode: _read(runs[mode].artifact("SchemaGen", "schema").schema_path)
        for mode in ("in_memory", "multi")
    }
    assert texts["in_memory"] == texts["multi"]


def test_transform_writes_the_same_rows_and_features(runs):
    memory, multi = (_result(runs[m], "Transform") for m in ("in_memory", "multi"))
    assert memory["transformed_examples"] == multi["transformed_examples"]
    assert memory["features"] == multi["features"]


def test_evaluator_metrics_agree_within_training_noise(runs):
    overall = {}
    for mode in ("in_memory", "multi"):
        evaluation = runs[mode].artifact("Evaluator", "evaluation")
        with open(evaluation.metrics_path) as f:
            overall[mode] = json.load(f)["overall"]["metrics"]
    memory, multi = overall["in_memory"], overall["multi"]
    assert memory["example_count"] == multi["example_count"]
    assert (
        multi["example_count"]
        == runs["multi"].artifact("CsvExampleGen", "examples").row_counts["eval"]
    )
    assert abs(memory["auc"] - multi["auc"]) < AUC_NOISE, (memory, multi)
