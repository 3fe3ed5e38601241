"""Scalar summaries TensorBoard reads, written with TensorFlow alone.

``tf.summary.scalar`` lives in the ``tensorboard`` package, which TensorFlow 2.21
does not install; ``tf.summary.write`` with the scalars plugin's metadata writes
the same event (a rank-0 float tensor tagged for TensorBoard's scalars plugin).

Example:
    >>> import tempfile
    >>> writer = tf.summary.create_file_writer(tempfile.mkdtemp())
    >>> with writer.as_default(step=3):
    ...     bool(write_scalar("loss", 0.5))
    True
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


def write_scalar(name: str, value, step=None):
    """Writes one scalar to the default summary writer; returns whether it did."""
    return tf.summary.write(
        name, tf.cast(value, tf.float32), step=step, metadata=_SCALAR_METADATA
    )
