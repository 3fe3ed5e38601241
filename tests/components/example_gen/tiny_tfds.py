"""A tiny tensorflow-datasets builder over the shared iris files, for the TFDS tests.

TFDS builders must live in an importable module (not __main__), so it is here.
"""

import csv
import pathlib

import numpy as np
import tensorflow_datasets as tfds

IRIS = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "data" / "iris"
MEASUREMENTS = ("Sepal Length", "Sepal Width", "Petal Length", "Petal Width")


class TinyIris(tfds.core.GeneratorBasedBuilder):
    """Iris with its own train and test splits."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "measurements": tfds.features.Tensor(shape=(4,), dtype=np.float32),
                    "label": tfds.features.ClassLabel(num_classes=3),
                    "name": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(IRIS / "iris_training.csv"),
            "test": self._generate_examples(IRIS / "iris_test.csv"),
        }

    def _generate_examples(self, path):
        with open(path, newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                yield (
                    i,
                    {
                        "measurements": [float(row[m]) for m in MEASUREMENTS],
                        "label": int(row["Type"]),
                        "name": f"flower {i % 7}",
                    },
                )
