"""TfdsExampleGen on a dataset this test prepares in a temporary data_dir."""

import re

import pytest

from components.example_gen import TfdsExampleGen
from pipeline import DefinitionError

from .conftest import rows

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:tensorflow_datasets"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    tiny_tfds = pytest.importorskip("tests.components.example_gen.tiny_tfds")
    folder = tmp_path_factory.mktemp("tfds")
    tiny_tfds.TinyIris(data_dir=str(folder)).download_and_prepare()
    return str(folder)


def test_the_datasets_own_splits_are_kept(run_gen, data_dir):
    examples, result = run_gen(TfdsExampleGen, dataset="tiny_iris", data_dir=data_dir)
    assert result["row_counts"] == {"train": 120, "test": 30}
    assert examples.split_names == ["train", "test"]
    first = rows(examples, "test")
    assert len(first) == 30 and len(first[0]["measurements"]) == 4
    assert sorted({r["label"][0] for r in first}) == [0, 1, 2]


def test_splits_can_be_chosen_and_renamed(run_gen, data_dir):
    _, result = run_gen(
        TfdsExampleGen,
        dataset="tiny_iris:1.0.0",
        data_dir=data_dir,
        input_splits={"eval": "test"},
    )
    assert result["row_counts"] == {"eval": 30} and result["dataset_splits"] == ["test"]


def test_records_can_be_split_again_by_hash_of_a_feature(run_gen, data_dir):
    examples, result = run_gen(
        TfdsExampleGen,
        dataset="tiny_iris",
        data_dir=data_dir,
        output_splits={"train": 3, "eval": 1},
        split_column="name",
    )
    assert sum(result["row_counts"].values()) == 150
    names = {
        split: {r["name"][0] for r in rows(examples, split)}
        for split in ("train", "eval")
    }
    assert not names["train"] & names["eval"]


def test_a_dataset_that_is_not_prepared_is_explained(run_gen, data_dir, tmp_path):
    with pytest.raises(
        DefinitionError, match=re.escape("no prepared dataset 'mnist'")
    ) as caught:
        run_gen(TfdsExampleGen, dataset="mnist", data_dir=data_dir)
    assert "never downloads" in str(caught.value) and "tiny_iris" in str(caught.value)
    with pytest.raises(DefinitionError, match="it does not exist or is empty"):
        run_gen(TfdsExampleGen, dataset="tiny_iris", data_dir=str(tmp_path / "none"))


def test_an_unknown_split_is_named(run_gen, data_dir):
    with pytest.raises(
        DefinitionError, match=re.escape("has no split 'tset'. Did you mean 'test'?")
    ):
        run_gen(
            TfdsExampleGen,
            dataset="tiny_iris",
            data_dir=data_dir,
            input_splits={"eval": "tset"},
        )
