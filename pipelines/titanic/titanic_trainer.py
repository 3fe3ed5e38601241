"""The titanic pipeline's trainer module: a LinearClassifier on raw features.

Feature columns do the preprocessing the taxi pipeline leaves to Transform:

* numeric: ``Age`` (missing for about a fifth of the passengers: 28, the median,
  stands in), ``Fare``, ``SibSp`` and ``Parch``; ``Age`` also in buckets;
* vocabularies: ``Sex``, ``Embarked`` and the class ``Pclass`` (integers);
* hash buckets: ``Cabin`` and ``Ticket``, too many distinct values for a vocabulary;
* a cross of sex and class.

The label is ``Survived`` (0 or 1).
"""

from components.trainer import estimator as tf_estimator

fc = tf_estimator.feature_column

MEDIAN_AGE = 28.0
AGE_BOUNDARIES = [5.0, 12.0, 18.0, 25.0, 35.0, 45.0, 60.0]


def feature_columns():
    """The model's columns, one per raw feature (and a cross)."""
    age = fc.numeric_column("Age", default_value=MEDIAN_AGE)
    sex = fc.categorical_column_with_vocabulary_list("Sex", ["male", "female"])
    pclass = fc.categorical_column_with_vocabulary_list("Pclass", [1, 2, 3])
    return [
        age,
        fc.bucketized_column(age, boundaries=AGE_BOUNDARIES),
        fc.numeric_column("Fare", default_value=0.0),
        fc.numeric_column("SibSp", default_value=0.0),
        fc.numeric_column("Parch", default_value=0.0),
        sex,
        pclass,
        fc.categorical_column_with_vocabulary_list("Embarked", ["S", "C", "Q"]),
        fc.categorical_column_with_hash_bucket("Cabin", hash_bucket_size=50),
        fc.categorical_column_with_hash_bucket("Ticket", hash_bucket_size=200),
        fc.crossed_column(["Sex", "Pclass"], hash_bucket_size=12),
    ]


def trainer_fn(args):
    """Builds the survival classifier."""
    return tf_estimator.LinearClassifier(
        feature_columns=feature_columns(),
        optimizer="Ftrl",
        learning_rate=args.hyperparameters.get("learning_rate", 0.05),
        config=args.run_config,
        warm_start_from=args.warm_start_from,
    )
