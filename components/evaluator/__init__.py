"""Evaluator: a model's metrics on a split, overall and per slice, and its blessing.

The Evaluator calls the model's evaluation SavedModel (``<uri>/Format-Eval``,
signature ``evaluate``) on batches of raw examples in one Beam pass, together with a
baseline model when there is one, and folds the outputs into metrics per slice:
``metrics.json`` and an HTML report in the ``ModelEvaluation``, and a
``ModelBlessing`` that says whether every threshold passed. See docs/evaluator.md.

Modules: ``component`` (the component), ``model`` (the signature contract),
``slicing``, ``metrics`` (the built-in metrics), ``user_metrics``, ``thresholds``,
``job`` (the Beam job) and ``report`` (metrics.json and report.html).

Importing this package is cheap: TensorFlow and Beam load only when it runs.

Example:
    >>> from pipeline import Examples, Model, Output, component
    >>> @component
    ... def train(examples: Output[Examples], model: Output[Model]): ...
    >>> trainer = train()
    >>> evaluator = Evaluator(examples=trainer.outputs["examples"],
    ...                       model=trainer.outputs["model"])
    >>> sorted(Evaluator.spec.inputs)
    ['baseline_model', 'examples', 'model']
"""

from components.evaluator.component import Evaluator

__all__ = ["Evaluator"]
