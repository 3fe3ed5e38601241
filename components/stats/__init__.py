"""What StatisticsGen, SchemaGen and ExampleValidator share (internal to mlpipe).

- ``combiner``: feature statistics of Arrow record batches, mergeable, and the Beam
  ``CombineFn`` around them; ``statistics_from_batches`` computes them without Beam.
- ``artifacts``: where statistics, schemas and anomalies lie in their artifacts;
  reading and writing them; choosing splits.
- ``summary``: the readable ``summary.txt`` tables.

Nothing here imports TensorFlow, Beam, tfx_bsl or tensorflow_metadata at module
level, so importing the components stays cheap.
"""
