"""The Evaluator on Beam with real SavedModels and real data: metrics checked against
numpy over the models' own outputs, blessings, baselines, user metrics, and every way
its inputs can be wrong."""

import collections
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from components.evaluator import Evaluator
from pipeline import DefinitionError, Examples, InputDataError, Model
from tests.components.conftest import decode_example, raw_records
from tests.components.evaluator.conftest import (
    outputs_of,
    run_evaluator,
    save_model,
    titanic_features,
    titanic_rows,
)
from tests.components.evaluator.test_metrics import exact_auc

OWNER = "Evaluator 'evaluator'"


@pytest.fixture(scope="module")
def titanic_truth(titanic_examples, models):
    """The eval records' features and the titanic model's outputs, in one order."""
    records = raw_records(titanic_examples, "eval")
    return [decode_example(r) for r in records], outputs_of(models["titanic"], records)


def read_metrics(evaluation):
    return json.loads(pathlib.Path(evaluation.metrics_path).read_text())


def entry(document, **key):
    [found] = [s for s in document["slices"] if s["slice"] == key]
    return found["metrics"]


def listing(artifact):
    return sorted(p.name for p in pathlib.Path(artifact.uri).iterdir())


def test_importing_the_evaluator_leaves_tensorflow_and_beam_out():
    code = (
        "import sys\n"
        "import components.evaluator\n"
        "heavy = ['tensorflow', 'apache_beam', 'numpy']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_evaluator_is_registered_under_its_name():
    from pipeline import registry

    assert registry.component("Evaluator") is Evaluator
    assert Evaluator.spec.parameters["metrics_module"].module_file
    assert Evaluator.spec.inputs["baseline_model"].optional


class TestBinary:
    def test_metrics_overall_and_per_slice_match_numpy(
        self, tmp_path, titanic_examples, models, titanic_truth
    ):
        result, evaluation, blessing = run_evaluator(
            tmp_path,
            titanic_examples,
            models["titanic"],
            slicing_specs=[["Sex"], ["Embarked"], ["Pclass", "Sex"]],
            batch_size=100,
        )
        rows, out = titanic_truth
        y, p = out["label"][:, 0], out["probabilities"][:, 1].astype(np.float64)
        predicted = (p > 0.5).astype(int)
        doc = read_metrics(evaluation)
        overall = doc["overall"]["metrics"]
        assert overall["example_count"] == 891
        assert overall["accuracy"] == pytest.approx((predicted == y).mean())
        assert overall["auc"] == pytest.approx(exact_auc(p, y), abs=1e-3)
        assert overall["log_loss"] == pytest.approx(
            -np.mean(np.log(np.where(y == 1, p, 1 - p))), rel=1e-6
        )
        assert overall["mean_label"] == pytest.approx(y.mean())
        assert overall["mean_prediction"] == pytest.approx(p.mean(), rel=1e-6)
        assert doc["overall"]["plots"]["confusion_matrix"] == [
            [int(((y == a) & (predicted == b)).sum()) for b in (0, 1)] for a in (0, 1)
        ]

        csv_rows = titanic_rows()
        embarked = collections.Counter(r["Embarked"] or "(missing)" for r in csv_rows)
        assert {
            s["slice"]["Embarked"]: s["metrics"]["example_count"]
            for s in doc["slices"]
            if "Embarked" in s["slice"]
        } == embarked
        crossed = collections.Counter((int(r["Pclass"]), r["Sex"]) for r in csv_rows)
        assert {
            (s["slice"]["Pclass"], s["slice"]["Sex"]): s["metrics"]["example_count"]
            for s in doc["slices"]
            if "Pclass" in s["slice"]
        } == crossed
        female = np.array([r["Sex"] == [b"female"] for r in rows])
        metrics = entry(doc, Sex="female")
        assert metrics["example_count"] == female.sum()
        assert metrics["accuracy"] == pytest.approx((predicted == y)[female].mean())
        assert metrics["auc"] == pytest.approx(
            exact_auc(p[female], y[female]), abs=1e-3
        )

        # Order: by spec, then by value, "(missing)" last.
        assert [s["slice"] for s in doc["slices"][:6]] == [
            {"Sex": "female"},
            {"Sex": "male"},
            {"Embarked": "C"},
            {"Embarked": "Q"},
            {"Embarked": "S"},
            {"Embarked": "(missing)"},
        ]
        assert result == {
            "examples": 891,
            "slices": 12,
            "blessed": True,
            "accuracy": overall["accuracy"],
            "auc": overall["auc"],
            "log_loss": overall["log_loss"],
        }
        assert doc["model"] == {
            "uri": models["titanic"].uri,
            "model_type": "classification",
            "classes": 2,
        }
        assert (doc["split"], doc["examples"], doc["baseline"]) == (
            "eval",
            titanic_examples.uri,
            None,
        )
        assert doc["slicing_specs"] == [["Sex"], ["Embarked"], ["Pclass", "Sex"]]
        assert (doc["blessed"], doc["reasons"]) == (
            True,
            ["no thresholds set: blessed without checks"],
        )
        assert listing(evaluation) == ["metrics.json", "report.html"]
        assert listing(blessing) == ["BLESSED"]
        report = pathlib.Path(evaluation.report_path).read_text()
        for text in (
            "Sliced by Sex",
            "Sex=female",
            "Embarked=(missing)",
            "Pclass × Sex",
        ):
            assert text in report
        assert report.count("<svg") == 4  # calibration and one chart per spec
        assert "auc per slice" in report

    def test_weights_and_class_ids_are_used(self, tmp_path, titanic_examples, models):
        model = models["titanic_weighted"]
        out = outputs_of(model, raw_records(titanic_examples, "eval"))
        y, p = out["label"][:, 0], out["probabilities"][:, 1].astype(np.float64)
        w, ids = out["weight"][:, 0].astype(np.float64), out["class_ids"][:, 0]
        _, evaluation, _ = run_evaluator(
            tmp_path,
            titanic_examples,
            model,
            thresholds={"weighted_example_count": {"lower_bound": 1}},
        )
        overall = read_metrics(evaluation)["overall"]["metrics"]
        assert overall["weighted_example_count"] == pytest.approx(w.sum(), rel=1e-6)
        assert overall["accuracy"] == pytest.approx(np.average(ids == y, weights=w))
        assert overall["auc"] == pytest.approx(exact_auc(p, y, w), abs=1e-3)
        assert overall["mean_label"] == pytest.approx(np.average(y, weights=w))


def test_three_classes(tmp_path, penguin_examples, models):
    out = outputs_of(models["penguins"], raw_records(penguin_examples, "eval"))
    y, p = out["label"][:, 0], out["probabilities"].astype(np.float64)
    predicted = p.argmax(axis=1)
    result, evaluation, _ = run_evaluator(
        tmp_path,
        penguin_examples,
        models["penguins"],
        thresholds={"accuracy": {"lower_bound": 0.8}},
    )
    doc = read_metrics(evaluation)
    overall = doc["overall"]["metrics"]
    confusion = np.array(
        [[((y == a) & (predicted == b)).sum() for b in range(3)] for a in range(3)]
    )
    assert doc["overall"]["plots"]["confusion_matrix"] == confusion.tolist()
    assert overall["accuracy"] == pytest.approx((predicted == y).mean())
    assert overall["accuracy"] > 0.8
    assert overall["recall"] == pytest.approx(
        np.mean([confusion[c, c] / confusion[c].sum() for c in range(3)])
    )
    assert overall["log_loss"] == pytest.approx(
        -np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-6
    )
    assert overall["auc"] == pytest.approx(
        np.mean([exact_auc(p[:, c], (y == c).astype(int)) for c in range(3)]),
        abs=1e-3,
    )
    assert "calibration" not in overall
    assert doc["model"]["classes"] == 3
    report = pathlib.Path(evaluation.report_path).read_text()
    assert "Confusion matrix" in report and "Calibration" not in report
    assert "classification, 3 classes" in report
    assert result["blessed"] is True


def test_regression(tmp_path, titanic_examples, models):
    out = outputs_of(models["fare_regression"], raw_records(titanic_examples, "eval"))
    y, prediction = out["label"][:, 0].astype(np.float64), out["predictions"][:, 0]
    result, evaluation, blessing = run_evaluator(
        tmp_path,
        titanic_examples,
        models["fare_regression"],
        slicing_specs=[["Pclass"]],
        thresholds={"rmse": {"upper_bound": 10}},
    )
    doc = read_metrics(evaluation)
    overall = doc["overall"]["metrics"]
    mse = np.mean((prediction - y) ** 2)
    assert overall["mse"] == pytest.approx(mse, rel=1e-6)
    assert overall["rmse"] == pytest.approx(np.sqrt(mse), rel=1e-6)
    assert overall["mae"] == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-6)
    assert overall["mean_label"] == pytest.approx(y.mean(), rel=1e-6)
    first = entry(doc, Pclass=1)
    rows = [decode_example(r) for r in raw_records(titanic_examples, "eval")]
    in_first = np.array([r["Pclass"] == [1] for r in rows])
    assert first["example_count"] == in_first.sum() == 216
    assert first["mae"] == pytest.approx(np.mean(np.abs(65.0 - y[in_first])), rel=1e-5)
    assert doc["model"] == {
        "uri": models["fare_regression"].uri,
        "model_type": "regression",
        "classes": None,
    }
    assert result["blessed"] is False
    assert blessing.reasons == [f"rmse {overall['rmse']:.6g} > upper_bound 10"]
    assert listing(blessing) == ["NOT_BLESSED"]
    assert "rmse per slice" in pathlib.Path(evaluation.report_path).read_text()


class TestBlessing:
    def test_absolute_thresholds_decide(self, tmp_path, titanic_examples, models):
        passing = {"auc": {"lower_bound": 0.8}, "log_loss": {"upper_bound": 0.6}}
        result, evaluation, blessing = run_evaluator(
            tmp_path / "pass", titanic_examples, models["titanic"], thresholds=passing
        )
        auc = read_metrics(evaluation)["overall"]["metrics"]["auc"]
        assert result["blessed"] is True and blessing.blessed is True
        assert blessing.reasons[0] == f"auc {auc:.6g} >= lower_bound 0.8"

        failing = {"auc": {"lower_bound": 0.9}}
        result, evaluation, blessing = run_evaluator(
            tmp_path / "fail", titanic_examples, models["titanic"], thresholds=failing
        )
        assert (result["blessed"], blessing.blessed) == (False, False)
        assert blessing.reasons == [f"auc {auc:.6g} < lower_bound 0.9"]
        assert listing(blessing) == ["NOT_BLESSED"]
        doc = read_metrics(evaluation)
        assert doc["thresholds"] == [
            {
                "metric": "auc",
                "check": "lower_bound",
                "bound": 0.9,
                "value": auc,
                "baseline": None,
                "passed": False,
                "skipped": False,
                "message": f"auc {auc:.6g} < lower_bound 0.9",
            }
        ]
        assert "NOT BLESSED" in pathlib.Path(evaluation.report_path).read_text()

    RELATIVE = {
        "auc": {"lower_bound": 0.6, "change_vs_baseline": {"min_absolute": -0.01}}
    }

    def test_a_better_model_than_the_baseline_is_blessed(
        self, tmp_path, titanic_examples, models
    ):
        result, evaluation, blessing = run_evaluator(
            tmp_path,
            titanic_examples,
            models["titanic"],
            baseline_model=models["titanic_worse"],
            slicing_specs=[["Sex"]],
            thresholds=self.RELATIVE,
        )
        doc = read_metrics(evaluation)
        auc = doc["overall"]["metrics"]["auc"]
        base = doc["baseline_metrics"]["overall"]["metrics"]["auc"]
        worse = outputs_of(
            models["titanic_worse"], raw_records(titanic_examples, "eval")
        )
        assert base == pytest.approx(
            exact_auc(worse["probabilities"][:, 1], worse["label"][:, 0]), abs=1e-3
        )
        assert auc > base + 0.05
        assert result["blessed"] is True
        assert blessing.reasons[1] == (
            f"auc change vs baseline {auc - base:+.6g} ({auc:.6g} vs {base:.6g}) >= "
            f"min_absolute -0.01"
        )
        assert doc["baseline"]["uri"] == models["titanic_worse"].uri
        assert [s["slice"] for s in doc["baseline_metrics"]["slices"]] == [
            {"Sex": "female"},
            {"Sex": "male"},
        ]
        assert "grey: baseline" in pathlib.Path(evaluation.report_path).read_text()

    def test_a_worse_model_than_the_baseline_is_not_blessed(
        self, tmp_path, titanic_examples, models
    ):
        result, _, blessing = run_evaluator(
            tmp_path,
            titanic_examples,
            models["titanic_worse"],
            baseline_model=models["titanic"],
            thresholds=self.RELATIVE,
        )
        assert result["blessed"] is False
        assert re.fullmatch(
            r"auc change vs baseline -0\.\d+ \(0\.\d+ vs 0\.\d+\) < min_absolute -0.01",
            blessing.reasons[0],
        )

    def test_without_a_baseline_absolute_thresholds_decide(
        self, tmp_path, titanic_examples, models
    ):
        result, evaluation, blessing = run_evaluator(
            tmp_path,
            titanic_examples,
            models["titanic_worse"],
            thresholds=self.RELATIVE,
        )
        assert result["blessed"] is True  # its auc is above 0.6
        assert blessing.reasons[1] == (
            "auc change vs baseline: no baseline model, skipped (min_absolute -0.01)"
        )
        assert read_metrics(evaluation)["baseline_metrics"] is None


USER_METRICS = """
import numpy as np

from math import sqrt  # imported: not a metric


def _weighted(values, weights):
    return float(np.average(values, weights=weights))


def positive_rate(labels, predictions, weights):
    return _weighted(predictions[:, 1] > 0.5, weights)


def brier(labels, predictions, weights):
    return _weighted((predictions[:, 1] - labels) ** 2, weights)


def nothing(labels, predictions, weights):
    return None
"""


class TestUserMetrics:
    def test_user_metrics_per_slice_and_in_thresholds(
        self, tmp_path, titanic_examples, models, titanic_truth
    ):
        module = tmp_path / "my_metrics.py"
        module.write_text(USER_METRICS)
        result, evaluation, blessing = run_evaluator(
            tmp_path,
            titanic_examples,
            models["titanic"],
            baseline_model=models["titanic_worse"],
            slicing_specs=[["Sex"]],
            metrics_module=str(module),
            thresholds={"brier": {"upper_bound": 0.2}},
        )
        rows, out = titanic_truth
        y, p = out["label"][:, 0], out["probabilities"][:, 1].astype(np.float64)
        doc = read_metrics(evaluation)
        overall = doc["overall"]["metrics"]
        assert overall["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-6)
        assert overall["positive_rate"] == pytest.approx(np.mean(p > 0.5))
        assert overall["nothing"] is None
        assert "sqrt" not in overall and "_weighted" not in overall
        male = np.array([r["Sex"] == [b"male"] for r in rows])
        assert entry(doc, Sex="male")["brier"] == pytest.approx(
            np.mean((p[male] - y[male]) ** 2), rel=1e-6
        )
        assert "brier" in doc["baseline_metrics"]["overall"]["metrics"]
        assert blessing.reasons == [f"brier {overall['brier']:.6g} <= upper_bound 0.2"]
        assert result["blessed"] is True

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            (
                "def accuracy(labels, predictions, weights):\n    return 1.0\n",
                "defines ['accuracy'], the name of a built-in metric; rename the "
                "function (e.g. my_accuracy).",
            ),
            (
                "def rate(labels, predictions):\n    return 1.0\n",
                "line 1: metric rate(labels, predictions) must take three arguments "
                "(labels, predictions, weights); rename it to _rate if it is a helper.",
            ),
            (
                "X = 1\n",
                "defines no public function. Define each metric as def name(labels, "
                "predictions, weights): return a number (helpers start with '_').",
            ),
            (
                "import numpy as np\n\ndef rate(labels, predictions, weights)\n",
                "cannot be imported: SyntaxError: expected ':' ",
            ),
            (
                "x = 1 / 0\n",
                "failed to import: ZeroDivisionError: division by zero "
                "(at line 1: `x = 1 / 0`).",
            ),
        ],
    )
    def test_a_bad_module_is_explained_before_any_data_is_read(
        self, tmp_path, titanic_examples, models, source, message
    ):
        module = tmp_path / "my_metrics.py"
        module.write_text(source)
        with pytest.raises(DefinitionError) as caught:
            run_evaluator(
                tmp_path,
                titanic_examples,
                models["titanic"],
                metrics_module=str(module),
            )
        assert f"{OWNER}: metrics_module {module}" in str(caught.value)
        assert message in str(caught.value)

    def test_a_missing_module_or_metric_names_it(
        self, tmp_path, titanic_examples, models
    ):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: metrics_module 'nowhere.py' is not a file (looked for "
            ),
        ):
            run_evaluator(
                tmp_path,
                titanic_examples,
                models["titanic"],
                metrics_module="nowhere.py",
            )
        module = tmp_path / "m.py"
        module.write_text(USER_METRICS)
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: thresholds names the unknown metric 'brir'. Did you mean 'brier'?"
            ),
        ):
            run_evaluator(
                tmp_path / "t",
                titanic_examples,
                models["titanic"],
                metrics_module=str(module),
                thresholds={"brir": {"upper_bound": 0.2}},
            )

    def test_a_failing_metric_names_itself_and_the_slice(
        self, tmp_path, titanic_examples, models
    ):
        module = tmp_path / "m.py"
        module.write_text(
            "def spread(labels, predictions, weights):\n"
            "    if len(labels) < 5:\n"
            "        raise ValueError('too few examples')\n"
            "    return 1.0\n"
        )
        with pytest.raises(
            RuntimeError,
            match=re.escape(
                f"User metric 'spread' ({module}) failed on slice 'Embarked=(missing)' of "
                f"model: ValueError: too few examples"
            ),
        ):
            run_evaluator(
                tmp_path,
                titanic_examples,
                models["titanic"],
                slicing_specs=[["Embarked"]],
                metrics_module=str(module),
            )


class TestBadInputs:
    """Each is found before the outputs hold anything."""

    def check_nothing_written(self, tmp_path):
        for name in ("evaluation", "blessing"):
            assert not list((tmp_path / name).iterdir())

    def test_a_model_without_an_evaluation_model(self, tmp_path, titanic_examples):
        model = Model(uri=str(tmp_path / "model"))
        with pytest.raises(FileNotFoundError) as caught:
            run_evaluator(tmp_path, titanic_examples, model)
        assert str(caught.value).startswith(
            f"{OWNER}: model has no evaluation model: {model.eval_model_dir} is not a "
            f"SavedModel (the folder is missing). The Evaluator needs the model's "
            f"evaluation-ready SavedModel in <uri>/Format-Eval. The Trainer writes it;"
        )
        self.check_nothing_written(tmp_path)

    def test_a_model_without_the_evaluate_signature(self, tmp_path, titanic_examples):
        model = save_model(
            tmp_path / "model",
            titanic_features(),
            lambda f: {"label": f["Survived"]},
            signature="serving_default",
        )
        with pytest.raises(DefinitionError) as caught:
            run_evaluator(tmp_path, titanic_examples, model)
        assert str(caught.value).startswith(
            f"{OWNER}: model ({model.uri}): the SavedModel {model.eval_model_dir} has "
            f"no signature 'evaluate' (it has: serving_default). The Trainer writes "
            f"it; a model of your own needs a SavedModel saved with "
            f"tf.saved_model.save(module, '<uri>/Format-Eval', signatures={{'evaluate': "
            f"fn}})"
        )
        self.check_nothing_written(tmp_path)

    def test_a_signature_without_label(self, tmp_path, titanic_examples):
        import tensorflow as tf

        model = save_model(
            tmp_path / "model",
            titanic_features(),
            lambda f: {"probabilities": tf.concat([f["Age"], f["Age"]], axis=1)},
        )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: model ({model.uri}): the 'evaluate' signature of "
                f"{model.eval_model_dir} returns no 'label' (it returns: "
                f"probabilities). Return the label of each example under the key "
                f"'label': class ids for classification, values for regression."
            ),
        ):
            run_evaluator(tmp_path, titanic_examples, model)
        self.check_nothing_written(tmp_path)

    @pytest.mark.parametrize(
        ("outputs", "model_type", "message"),
        [
            (
                lambda f: {"label": f["Survived"], "scores": f["Age"]},
                None,
                "returns neither 'probabilities' (classification) nor 'predictions' "
                "(regression); it returns: label, scores. Return one of them.",
            ),
            (
                lambda f: {"label": f["Survived"], "probabilities": f["Age"]},
                None,
                "'probabilities' of the 'evaluate' signature of {path} has one "
                "column; give each class's probability, for a binary model both: "
                "tf.concat([1 - p, p], axis=1).",
            ),
            (
                lambda f: {"label": f["Sex"], "predictions": f["Age"]},
                None,
                "the 'evaluate' signature of {path} returns 'label' as string; it "
                "must be an integer or float tensor. String labels must become class "
                "ids.",
            ),
            (
                lambda f: {"label": f["Fare"], "predictions": f["Age"]},
                "classification",
                "the Model's model_type is 'classification', but the 'evaluate' "
                "signature of {path} returns no 'probabilities' (it returns: label, "
                "predictions). Return 'probabilities' from it.",
            ),
        ],
    )
    def test_a_signature_that_breaks_the_contract(
        self, tmp_path, titanic_examples, outputs, model_type, message
    ):
        model = save_model(tmp_path / "model", titanic_features(), outputs)
        model.model_type = model_type
        with pytest.raises(DefinitionError) as caught:
            run_evaluator(tmp_path, titanic_examples, model)
        assert str(caught.value).startswith(f"{OWNER}: model ({model.uri}): ")
        assert message.format(path=model.eval_model_dir) in str(caught.value)
        self.check_nothing_written(tmp_path)

    def test_a_baseline_of_another_kind(self, tmp_path, titanic_examples, models):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: model ({models['titanic'].uri}) is a classification model "
                f"but baseline_model ({models['fare_regression'].uri}) is a "
                f"regression model; compare models of one kind, or leave "
                f"baseline_model out."
            ),
        ):
            run_evaluator(
                tmp_path,
                titanic_examples,
                models["titanic"],
                baseline_model=models["fare_regression"],
            )

    def test_a_missing_split_gets_a_suggestion(
        self, tmp_path, titanic_examples, models
    ):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: split names split 'evl', but the input has only ['eval', "
                f"'train']. Did you mean 'eval'?"
            ),
        ):
            run_evaluator(tmp_path, titanic_examples, models["titanic"], split="evl")
        self.check_nothing_written(tmp_path)

    def test_a_split_without_examples(self, tmp_path, models):
        import tensorflow as tf

        examples = Examples(
            uri=str(tmp_path / "examples"), properties={"split_names": ["eval"]}
        )
        folder = pathlib.Path(examples.split_uri("eval"))
        folder.mkdir(parents=True)
        with pytest.raises(
            FileNotFoundError, match="split 'eval' has no example files"
        ):
            run_evaluator(tmp_path / "a", examples, models["titanic"])
        tf.io.TFRecordWriter(str(folder / "data-0.tfrecord.gz"), "GZIP").close()
        with pytest.raises(
            InputDataError,
            match=re.escape(
                f"{OWNER}: split 'eval' of {examples.uri} holds no examples"
            ),
        ):
            run_evaluator(tmp_path / "b", examples, models["titanic"])
        self.check_nothing_written(tmp_path / "b")

    def test_a_slicing_feature_no_example_has(self, tmp_path, titanic_examples, models):
        with pytest.raises(DefinitionError) as caught:
            run_evaluator(
                tmp_path,
                titanic_examples,
                models["titanic"],
                slicing_specs=[["Sex"], ["Embark"]],
            )
        assert str(caught.value) == (
            f"{OWNER}: slicing_specs names the feature 'Embark', which no example of "
            f"split 'eval' of {titanic_examples.uri} has. Did you mean 'Embarked'? The "
            f"examples have: Age, Cabin, Embarked, Fare, Name, Parch, PassengerId, "
            f"Pclass, Sex, SibSp, Survived, Ticket. Fix the name in slicing_specs."
        )
        self.check_nothing_written(tmp_path)

    def test_bad_parameters_are_found_before_the_model_is_read(
        self, tmp_path, titanic_examples
    ):
        model = Model(uri=str(tmp_path / "nowhere"))
        with pytest.raises(DefinitionError, match="To slice by 'Sex' write"):
            run_evaluator(
                tmp_path / "a", titanic_examples, model, slicing_specs=["Sex"]
            )
        with pytest.raises(DefinitionError, match="batch_size must be at least 1"):
            run_evaluator(tmp_path / "b", titanic_examples, model, batch_size=0)
        with pytest.raises(
            DefinitionError, match="lower_bound 2 is above upper_bound 1"
        ):
            run_evaluator(
                tmp_path / "c",
                titanic_examples,
                model,
                thresholds={"auc": {"lower_bound": 2, "upper_bound": 1}},
            )

    def test_a_threshold_on_a_metric_the_model_lacks(
        self, tmp_path, titanic_examples, penguin_examples, models
    ):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: thresholds names 'calibration', which is not computed for "
                f"this model: it is computed for binary classifiers only, and this "
                f"model has 3 classes. The metrics available: example_count, "
                f"accuracy, precision, recall, auc, auc_precision_recall, log_loss."
            ),
        ):
            run_evaluator(
                tmp_path / "a",
                penguin_examples,
                models["penguins"],
                thresholds={"calibration": {"lower_bound": 0.9}},
            )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "thresholds names 'mse', which is not computed for this model: it is a "
                "metric of regression models, and this is a classification model."
            ),
        ):
            run_evaluator(
                tmp_path / "b",
                titanic_examples,
                models["titanic"],
                thresholds={"mse": {"upper_bound": 0.9}},
            )

    def test_a_label_outside_the_classes(self, tmp_path, titanic_examples):
        import tensorflow as tf

        model = save_model(
            tmp_path / "model",
            titanic_features(),
            lambda f: {
                "label": f["Pclass"] - 1,  # 0, 1 or 2
                "probabilities": tf.concat([f["Age"] * 0 + 0.5] * 2, axis=1),
            },
        )
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"Model {model.uri}: 491 examples have a label that is not one of the "
                f"model's class ids 0..1 ('probabilities' has 2 columns): [2]. Fix the "
                f"labels of the examples, or evaluate a model trained with these classes."
            ),
        ):
            run_evaluator(tmp_path, titanic_examples, model)
