"""Real data and real evaluation SavedModels for the Evaluator's tests.

Data: the Titanic passengers (binary: ``Survived``), the Palmer penguins (three
species) and the Chicago taxi trips (regression of ``tips``), written as gzip
TFRecord Examples from ../shared/data. Models: small ``tf.Module``s whose
``evaluate`` signature parses raw serialized examples and returns ``label`` and
``probabilities`` or ``predictions``, as the Trainer's evaluation models do; their
weights are chosen by hand (a sensible model, a worse one, a weighted one).
Session-scoped: each is made once per test process.
"""

import csv
import pathlib

import numpy as np
import pytest

from pipeline import Examples, ExecutionContext, Model, ModelBlessing, ModelEvaluation
from tests.components.test_statistics_gen import column_kinds, write_examples

SHARED_DATA = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "data"


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def titanic_rows() -> list[dict[str, str]]:
    return read_csv(SHARED_DATA / "titanic" / "train.csv")


def penguin_rows() -> list[dict[str, str]]:
    return read_csv(SHARED_DATA / "penguins" / "penguins_processed.csv")


def save_model(uri, features, compute, signature="evaluate") -> Model:
    """Saves ``<uri>/Format-Eval``: parses ``features`` ({name: (dtype, default)})
    from serialized examples and returns ``compute(parsed)`` (a dict of tensors)."""
    import tensorflow as tf

    spec = {
        name: tf.io.FixedLenFeature([1], dtype, default_value=[default])
        for name, (dtype, default) in features.items()
    }
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate(examples):
        return compute(tf.io.parse_example(examples, spec))

    model = Model(uri=str(uri))
    tf.saved_model.save(module, model.eval_model_dir, signatures={signature: evaluate})
    return model


def binary(p):
    import tensorflow as tf

    return tf.concat([1 - p, p], axis=1)


TITANIC_FEATURES = {
    "Survived": ("int64", 0),
    "Sex": ("string", ""),
    "Pclass": ("int64", 2),
    "Age": ("float32", 30.0),
    "Fare": ("float32", 30.0),
}


def titanic_features():
    import tensorflow as tf

    return {name: (tf.as_dtype(d), v) for name, (d, v) in TITANIC_FEATURES.items()}


def titanic_logit(f, quality=1.0):
    """A hand-made logistic model of survival; ``quality`` 0 makes it a coin flip
    around the fare."""
    import tensorflow as tf

    female = tf.cast(tf.equal(f["Sex"], "female"), tf.float32)
    pclass = tf.cast(f["Pclass"], tf.float32)
    good = -1.2 + 2.5 * female - 0.8 * (pclass - 2.0) - 0.02 * (f["Age"] - 30.0)
    poor = 0.01 * (f["Fare"] - 30.0) - 0.4
    return quality * good + (1 - quality) * poor


def save_titanic_model(uri, quality=1.0, weighted=False, class_ids=False) -> Model:
    import tensorflow as tf

    def compute(f):
        p = tf.sigmoid(titanic_logit(f, quality))
        out = {"label": f["Survived"], "probabilities": binary(p)}
        if weighted:
            out["weight"] = 1.0 + f["Fare"] / 50.0
        if class_ids:
            # Deliberately not the argmax: class 1 from p > 0.3.
            out["class_ids"] = tf.cast(p > 0.3, tf.int64)
            # Outputs the Evaluator does not use are ignored (an Estimator's
            # predict signature has these).
            out["classes"] = tf.strings.as_string(out["class_ids"])
            out["logits"] = tf.math.log(p / (1 - p))
        return out

    return save_model(uri, titanic_features(), compute)


PENGUIN_WEIGHTS = [
    # culmen_length, culmen_depth, flipper_length, body_mass -> 3 species; a short
    # softmax regression fit, rounded: about 92% accurate.
    [-2.1, 1.5, 0.6],
    [1.8, 0.8, -2.6],
    [-1.2, -0.6, 1.9],
    [-0.7, -1.0, 1.7],
]
PENGUIN_BIAS = [1.2, -0.5, -0.7]
PENGUIN_FEATURES = [
    "culmen_length_mm",
    "culmen_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]


def save_penguin_model(uri) -> Model:
    import tensorflow as tf

    def compute(f):
        x = tf.concat([f[name] for name in PENGUIN_FEATURES], axis=1)
        logits = tf.matmul(x, tf.constant(PENGUIN_WEIGHTS)) + PENGUIN_BIAS
        return {"label": f["species"], "probabilities": tf.nn.softmax(logits)}

    features = {name: (tf.float32, 0.0) for name in PENGUIN_FEATURES}
    features["species"] = (tf.int64, 0)
    return save_model(uri, features, compute)


def save_fare_regression(uri) -> Model:
    """A Titanic passenger's fare from the class."""
    import tensorflow as tf

    def compute(f):
        pclass = tf.cast(f["Pclass"], tf.float32)
        return {"label": f["Fare"], "predictions": 95.0 - 30.0 * pclass}

    return save_model(uri, titanic_features(), compute)


def save_taxi_classifier(uri, card_weight=3.5) -> Model:
    """big_tipper (tips > 20% of fare) from the payment type and the fare."""
    import tensorflow as tf

    def compute(f):
        card = tf.cast(tf.equal(f["payment_type"], "Credit Card"), tf.float32)
        p = tf.sigmoid(-2.5 + card_weight * card + 0.01 * f["fare"])
        label = tf.cast(f["tips"] > 0.2 * f["fare"], tf.int64)
        return {"label": label, "probabilities": binary(p)}

    features = {
        "tips": (tf.float32, 0.0),
        "fare": (tf.float32, 0.0),
        "payment_type": (tf.string, ""),
    }
    return save_model(uri, features, compute)


def outputs_of(model: Model, records: list[bytes]) -> dict[str, np.ndarray]:
    """The model's evaluate outputs for records, straight from TensorFlow."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model.eval_model_dir)
    out = loaded.signatures["evaluate"](examples=tf.constant(records))
    return {name: value.numpy() for name, value in out.items()}


def make_context(component_id="evaluator", root="/tmp") -> ExecutionContext:
    return ExecutionContext(
        pipeline_name="test",
        pipeline_root=str(root),
        run_id="run",
        component_id=component_id,
        execution_id=1,
    )


def run_evaluator(tmp_path, examples, model, **params):
    """Calls the Evaluator's function into fresh output folders:
    (result, evaluation, blessing)."""
    from components.evaluator import Evaluator

    evaluation = ModelEvaluation(uri=str(tmp_path / "evaluation"))
    blessing = ModelBlessing(uri=str(tmp_path / "blessing"))
    for artifact in (evaluation, blessing):
        pathlib.Path(artifact.uri).mkdir(parents=True)
    result = Evaluator.fn(
        examples=examples,
        model=model,
        evaluation=evaluation,
        blessing=blessing,
        context=make_context("evaluator", tmp_path),
        **params,
    )
    return result, evaluation, blessing


def _examples(root, split_rows, shards=2) -> Examples:
    rows = next(iter(split_rows.values()))
    return write_examples(root, split_rows, column_kinds(rows), shards=shards)


@pytest.fixture(scope="session")
def titanic_examples(tmp_path_factory) -> Examples:
    """All 891 Titanic passengers as the eval split (and the first 10 as train)."""
    rows = titanic_rows()
    return _examples(
        tmp_path_factory.mktemp("titanic") / "examples",
        {"eval": rows, "train": rows[:10]},
    )


@pytest.fixture(scope="session")
def penguin_examples(tmp_path_factory) -> Examples:
    return _examples(
        tmp_path_factory.mktemp("penguins") / "examples", {"eval": penguin_rows()}
    )


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """The hand-made models, saved once: a dict of name to Model."""
    root = tmp_path_factory.mktemp("models")
    return {
        "titanic": save_titanic_model(root / "titanic"),
        "titanic_worse": save_titanic_model(root / "titanic_worse", quality=0.0),
        "titanic_weighted": save_titanic_model(
            root / "titanic_weighted", weighted=True, class_ids=True
        ),
        "penguins": save_penguin_model(root / "penguins"),
        "fare_regression": save_fare_regression(root / "fare_regression"),
    }
