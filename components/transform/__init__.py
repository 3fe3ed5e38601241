"""Transform: tensorflow-transform on Beam, analyzing the train split, transforming all.

The user writes ``preprocessing_fn(inputs)`` in a module file; Transform analyzes the
train split with it (means, vocabularies, quantiles, ...), writes the resulting
transform graph, and applies it to every split. The graph travels with the model:
``components.input_fn.build_parsing_serving_input_receiver_fn`` applies it to raw
serialized tf.Examples at serving time. See docs/transform.md.

Importing this package is cheap: TensorFlow, Beam and tensorflow-transform load only
when the component runs.

Example:
    >>> from pipeline import Examples, Output, Schema, component
    >>> @component
    ... def make_examples(examples: Output[Examples], schema: Output[Schema]): ...
    >>> gen = make_examples()
    >>> transform = Transform(
    ...     examples=gen.outputs["examples"],
    ...     schema=gen.outputs["schema"],
    ...     module_file="taxi_preprocessing.py",
    ... )
    >>> sorted(transform.outputs)
    ['transform_graph', 'transformed_examples']
"""

from components.transform.component import Transform

__all__ = ["Transform"]
