"""ParquetExampleGen: typed columns, nulls, lists, and types with no tf.Example form."""

import datetime
import re

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from components.example_gen import InputDataError, ParquetExampleGen
from pipeline import DefinitionError

from .conftest import TITANIC, all_rows


def test_titanic_from_parquet(run_gen, tmp_path):
    table = pv.read_csv(TITANIC)
    pq.write_table(table, tmp_path / "titanic.parquet", row_group_size=100)
    examples, result = run_gen(
        ParquetExampleGen, input_base=str(tmp_path / "titanic.parquet")
    )
    assert sum(result["row_counts"].values()) == 891
    assert (
        result["column_types"]["Age"] == "float"
        and result["column_types"]["Name"] == "string"
    )
    got = all_rows(examples)
    assert sum(1 for r in got if r["Age"] is None) == table["Age"].null_count == 177
    assert sorted(r["PassengerId"][0] for r in got) == list(range(1, 892))


def test_lists_dates_booleans_and_dictionaries(run_gen, tmp_path):
    table = pa.table(
        {
            "tags": pa.array([["a", "b"], [], None]),
            "scores": pa.array([[1.5], [2.0, 3.0], [4.0]], pa.list_(pa.float32())),
            "day": pa.array([datetime.date(2024, 1, 2)] * 3),
            "ok": pa.array([True, False, None]),
            "kind": pa.array(["x", "y", "x"]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    examples, result = run_gen(
        ParquetExampleGen,
        input_base=str(tmp_path / "t.parquet"),
        output_splits={"all": 1},
    )
    assert result["column_types"] == {
        "tags": "list<string>",
        "scores": "list<float>",
        "day": "string",
        "ok": "int",
        "kind": "string",
    }
    got = sorted(all_rows(examples), key=lambda r: r["scores"][0])
    assert got[0]["tags"] == [b"a", b"b"] and got[0]["ok"] == [1]
    assert got[1]["tags"] == [] and got[2]["tags"] is None and got[2]["ok"] is None
    assert got[0]["day"] == [b"2024-01-02"] and got[1]["kind"] == [b"y"]


def test_a_column_without_a_tf_example_form_must_be_skipped(run_gen, tmp_path):
    table = pa.table({"x": [1], "point": pa.array([{"a": 1}])})
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(DefinitionError, match=re.escape("skip_columns=['point']")):
        run_gen(ParquetExampleGen, input_base=str(tmp_path / "s.parquet"))
    _, result = run_gen(
        ParquetExampleGen,
        input_base=str(tmp_path / "s.parquet"),
        skip_columns=["point"],
    )
    assert result["column_types"] == {"x": "int"}


def test_files_with_different_columns_are_named(run_gen, tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "in" / "a.parquet")
    pq.write_table(pa.table({"x": ["one"]}), tmp_path / "in" / "b.parquet")
    with pytest.raises(
        InputDataError, match=re.escape("the column(s) ['x'] have other types")
    ):
        run_gen(ParquetExampleGen, input_base=str(tmp_path / "in"))
