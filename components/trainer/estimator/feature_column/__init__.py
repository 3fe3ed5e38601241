"""Feature columns for the Estimator: ``tf.feature_column``'s API on TF 2.21 / Keras 3.

Columns describe what a model reads from each feature; ``DenseFeatures`` (for a
DNN) and ``LinearModel`` (for linear logits) are Keras 3 layers that turn a dict
of features into tensors inside a model_fn; ``make_parse_example_spec`` gives the
``tf.io.parse_example`` spec that feeds them. ``tf.feature_column`` objects are
accepted wherever a list of columns is. No lookup tables or other resources are
created, so the layers run under every ``tf.distribute`` strategy and export with
the model's variables alone. The user guide is ``docs/feature_columns.md``.

Example:
    >>> from components.trainer.estimator import feature_column as fc
    >>> sex = fc.categorical_column_with_vocabulary_list("sex", ["male", "female"])
    >>> columns = [fc.numeric_column("age"), fc.embedding_column(sex, 2)]
    >>> sorted(fc.make_parse_example_spec(columns))
    ['age', 'sex']
"""

from components.trainer.estimator.feature_column.categorical import (
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    weighted_categorical_column,
)
from components.trainer.estimator.feature_column.columns import (
    CategoricalColumn,
    DenseColumn,
    FeatureColumn,
    bucketized_column,
    embedding_column,
    indicator_column,
    numeric_column,
)
from components.trainer.estimator.feature_column.convert import as_feature_columns
from components.trainer.estimator.feature_column.layers import (
    DenseFeatures,
    LinearModel,
)
from components.trainer.estimator.feature_column.parsing import (
    classifier_parse_example_spec,
    make_parse_example_spec,
    regressor_parse_example_spec,
)

__all__ = [
    "CategoricalColumn",
    "DenseColumn",
    "DenseFeatures",
    "FeatureColumn",
    "LinearModel",
    "as_feature_columns",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "classifier_parse_example_spec",
    "crossed_column",
    "embedding_column",
    "indicator_column",
    "make_parse_example_spec",
    "numeric_column",
    "regressor_parse_example_spec",
    "weighted_categorical_column",
]
