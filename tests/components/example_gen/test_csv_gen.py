"""CsvExampleGen end to end on Beam: the real data sets and crafted bad files."""

import collections
import csv
import json
import pathlib
import re

import pytest

from components.example_gen import CsvExampleGen, InputDataError, csv_source
from pipeline import DefinitionError, Examples, MetadataStore, Pipeline

from .conftest import IRIS, PENGUINS, TAXI, TITANIC, all_rows, data_rows, records, rows

TAXI_TYPES = {
    "pickup_community_area": "int",
    "fare": "float",
    "trip_start_month": "int",
    "trip_start_hour": "int",
    "trip_start_day": "int",
    "trip_start_timestamp": "int",
    "pickup_latitude": "float",
    "pickup_longitude": "float",
    "dropoff_latitude": "float",
    "dropoff_longitude": "float",
    "trip_miles": "float",
    "pickup_census_tract": "int",
    "dropoff_census_tract": "int",
    "payment_type": "string",
    "company": "string",
    "trip_seconds": "int",
    "dropoff_community_area": "int",
    "tips": "float",
}


def csv_dicts(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    """The taxi file through CsvExampleGen once, shared by the tests that read it."""
    from .conftest import context

    examples = Examples(uri=str(tmp_path_factory.mktemp("taxi")))
    result = CsvExampleGen.fn(
        examples=examples, input_base=str(TAXI), context=context()
    )
    return examples, result


class TestRealData:
    def test_taxi_rows_add_up_and_split_two_to_one(self, taxi):
        examples, result = taxi
        counts = result["row_counts"]
        assert sum(counts.values()) == data_rows(TAXI) == 15002
        assert examples.row_counts == counts and examples.split_names == [
            "train",
            "eval",
        ]
        assert counts["train"] / 15002 == pytest.approx(2 / 3, abs=0.015)
        assert len(records(examples, "eval")) == counts["eval"]

    def test_taxi_types_are_inferred_over_the_whole_file(self, taxi):
        assert taxi[1]["column_types"] == TAXI_TYPES

    def test_taxi_missing_values_stay_missing(self, taxi):
        tf = pytest.importorskip("tensorflow")
        examples, _ = taxi
        source = csv_dicts(TAXI)
        serialized = records(examples, "train") + records(examples, "eval")
        parsed = tf.io.parse_example(
            serialized,
            {
                "dropoff_census_tract": tf.io.FixedLenFeature(
                    [], tf.int64, default_value=-1
                ),
                "dropoff_latitude": tf.io.VarLenFeature(tf.float32),
                "company": tf.io.VarLenFeature(tf.string),
            },
        )
        empty_tracts = sum(1 for r in source if r["dropoff_census_tract"] == "")
        assert empty_tracts == 4241
        assert int(
            tf.reduce_sum(tf.cast(parsed["dropoff_census_tract"] == -1, tf.int32))
        ) == (empty_tracts)
        present_latitudes = sum(1 for r in source if r["dropoff_latitude"] != "")
        assert parsed["dropoff_latitude"].values.shape[0] == present_latitudes
        assert parsed["company"].values.shape[0] == sum(
            1 for r in source if r["company"]
        )
        first = tf.train.Example.FromString(serialized[0])
        assert all(
            value.WhichOneof("kind") for value in first.features.feature.values()
        )

    def test_taxi_values_match_the_file(self, taxi):
        examples, _ = taxi
        fares = sorted(r["fare"][0] for r in all_rows(examples))
        expected = sorted(float(r["fare"]) for r in csv_dicts(TAXI))
        assert fares == pytest.approx(expected, rel=1e-6)

    def test_titanic_quoted_names_with_commas(self, run_gen):
        examples, result = run_gen(CsvExampleGen, input_base=str(TITANIC))
        source = csv_dicts(TITANIC)
        got = all_rows(examples)
        assert sum(result["row_counts"].values()) == len(got) == 891
        assert sorted(r["Name"][0].decode() for r in got) == sorted(
            r["Name"] for r in source
        )
        assert result["column_types"]["Age"] == "float"
        assert result["column_types"]["Ticket"] == "string"
        missing_ages = sum(1 for r in source if not r["Age"])
        assert sum(1 for r in got if r["Age"] is None) == missing_ages == 177

    def test_iris_keeps_its_own_splits(self, run_gen):
        examples, result = run_gen(
            CsvExampleGen,
            input_base=str(IRIS),
            input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
        )
        assert result["row_counts"] == {"train": 120, "eval": 30}
        assert result["column_types"]["Type"] == "int"
        assert result["column_types"]["Petal Width"] == "float"
        assert sorted(r["Type"][0] for r in rows(examples, "eval")) == sorted(
            int(r["Type"]) for r in csv_dicts(IRIS / "iris_test.csv")
        )

    def test_penguins_three_way_split(self, run_gen):
        _, result = run_gen(
            CsvExampleGen,
            input_base=str(PENGUINS),
            output_splits={"train": 8, "eval": 1, "test": 1},
        )
        counts = result["row_counts"]
        assert list(counts) == ["train", "eval", "test"] and sum(counts.values()) == 334
        assert counts["train"] > counts["eval"] and counts["train"] > counts["test"]
        assert result["column_types"]["species"] == "int"


class TestSplits:
    def test_the_same_input_gives_the_same_split_every_run(self, run_gen):
        first, _ = run_gen(CsvExampleGen, input_base=str(TITANIC))
        second, _ = run_gen(CsvExampleGen, input_base=str(TITANIC))
        for split in ("train", "eval"):
            assert records(first, split) == records(second, split)

    @pytest.mark.slow  # starts two Beam worker processes
    def test_the_split_is_the_same_on_the_multi_processing_runner(self, run_gen):
        in_memory, _ = run_gen(CsvExampleGen, input_base=str(TAXI))
        processes, _ = run_gen(
            CsvExampleGen,
            input_base=str(TAXI),
            beam_args=[
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ],
        )
        for split in ("train", "eval"):
            assert sorted(records(in_memory, split)) == sorted(
                records(processes, split)
            )

    def test_a_split_column_keeps_equal_values_together(self, run_gen):
        examples, _ = run_gen(
            CsvExampleGen, input_base=str(TITANIC), split_column="Ticket"
        )
        splits_of = collections.defaultdict(set)
        for split in examples.split_names:
            for row in rows(examples, split):
                splits_of[row["Ticket"][0]].add(split)
        tickets = collections.Counter(r["Ticket"] for r in csv_dicts(TITANIC))
        assert sum(1 for count in tickets.values() if count > 1) > 50
        assert all(len(splits) == 1 for splits in splits_of.values())

    def test_an_unknown_split_column_is_named(self, run_gen):
        with pytest.raises(DefinitionError, match=re.escape("Did you mean 'Ticket'?")):
            run_gen(CsvExampleGen, input_base=str(TITANIC), split_column="ticket")


def write(path: pathlib.Path, content: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


class TestParsing:
    def test_bom_crlf_and_quoted_fields(self, run_gen, tmp_path):
        content = (
            b"\xef\xbb\xbfid,text,n\r\n"
            b'1,"a, b",1\r\n'
            b'2,"say ""hi""",\r\n'
            b'3,"two\r\nlines",3\r\n'
            b'4,"",4\r\n'
        )
        path = write(tmp_path / "crafted.csv", content)
        examples, result = run_gen(CsvExampleGen, input_base=path)
        assert result["column_types"] == {"id": "int", "text": "string", "n": "int"}
        got = {r["id"][0]: r for r in all_rows(examples)}
        assert got[1]["text"] == [b"a, b"]
        assert got[2]["text"] == [b'say "hi"'] and got[2]["n"] is None
        assert got[3]["text"] == [b"two\r\nlines"]
        assert got[4]["text"] is None  # a quoted empty field is missing too

    def test_another_delimiter_explicit_types_and_skipped_columns(
        self, run_gen, tmp_path
    ):
        path = write(
            tmp_path / "z.csv",
            "zip;city;pop;note\n00501;Holtsville;12;x\n10001;NY;8;y\n",
        )
        examples, result = run_gen(
            CsvExampleGen,
            input_base=path,
            delimiter=";",
            column_types={"zip": "string", "pop": "float"},
            skip_columns=["note"],
        )
        assert result["column_types"] == {
            "zip": "string",
            "city": "string",
            "pop": "float",
        }
        got = sorted(all_rows(examples), key=lambda r: r["zip"])
        assert got[0] == {"zip": [b"00501"], "city": [b"Holtsville"], "pop": [12.0]}

    def test_a_column_with_no_value_anywhere_is_left_out(self, run_gen, tmp_path):
        path = write(tmp_path / "e.csv", "a,never\n1,\n2,\n")
        examples, result = run_gen(CsvExampleGen, input_base=path)
        assert result["column_types"] == {"a": "int", "never": None}
        assert all(
            set(r) <= {"a", "never"} and r.get("never") is None
            for r in all_rows(examples)
        )

    def test_types_span_blocks_read_in_parallel(self, run_gen, tmp_path, monkeypatch):
        monkeypatch.setattr(csv_source, "BLOCK_SIZE", 4096)
        lines = ["n,x"] + [f"{i},{i}" for i in range(3000)] + ["3000,0.5"]
        path = write(tmp_path / "late.csv", "\n".join(lines) + "\n")
        examples, result = run_gen(CsvExampleGen, input_base=path)
        assert result["column_types"] == {"n": "int", "x": "float"}
        assert len(list(pathlib.Path(examples.split_uri("train")).iterdir())) > 5
        assert sorted(r["n"][0] for r in all_rows(examples)) == list(range(3001))

    def test_a_folder_of_files_with_one_header(self, run_gen, tmp_path):
        write(tmp_path / "in" / "a.csv", "k,v\n1,2\n3,4\n")
        write(tmp_path / "in" / "b.csv", "k,v\n5,6\n")
        _, result = run_gen(CsvExampleGen, input_base=str(tmp_path / "in"))
        assert sum(result["row_counts"].values()) == 3 and result["files"] == 2

    def test_files_with_different_headers_are_named(self, run_gen, tmp_path):
        write(tmp_path / "in" / "a.csv", "k,v\n1,2\n")
        write(tmp_path / "in" / "b.csv", "k,w\n5,6\n")
        with pytest.raises(InputDataError, match=r"b\.csv has the header \['k', 'w'\]"):
            run_gen(CsvExampleGen, input_base=str(tmp_path / "in"))


class TestBadRows:
    BAD = "a,b,c\n1,2,3\n4,5\n6,7,8\n9,x,10\n11,12,13,14\n15,16,17\n"

    def test_the_first_bad_row_fails_by_default_naming_file_line_and_reason(
        self, run_gen, tmp_path
    ):
        path = write(tmp_path / "bad.csv", self.BAD)
        with pytest.raises(InputDataError) as caught:
            run_gen(CsvExampleGen, input_base=path)
        message = str(caught.value)
        assert "found 2 bad row(s), more than max_bad_rows=0 allows" in message
        assert f"{path} line 3: expected 3 fields, got 2: '4,5'" in message
        assert f"{path} line 6: expected 3 fields, got 4: '11,12,13,14'" in message
        assert "max_bad_rows=N (a count)" in message

    def test_tolerated_bad_rows_are_skipped_written_and_counted(
        self, run_gen, tmp_path
    ):
        path = write(tmp_path / "bad.csv", self.BAD)
        examples, result = run_gen(
            CsvExampleGen, input_base=path, max_bad_rows=3, column_types={"b": "int"}
        )
        assert result["bad_rows"] == 3 and sum(result["row_counts"].values()) == 3
        lines = (pathlib.Path(examples.uri) / "bad_rows" / "bad_rows.jsonl").read_text()
        bad = [json.loads(line) for line in lines.splitlines()]
        assert [(b["line"], b["reason"], b["text"]) for b in bad] == [
            (3, "expected 3 fields, got 2", "4,5"),
            (5, "column 'b': 'x' is not an int", "9,x,10"),
            (6, "expected 3 fields, got 4", "11,12,13,14"),
        ]
        assert all(b["file"] == path for b in bad)
        assert not (pathlib.Path(examples.uri) / ".tmp").exists()

    def test_a_fraction_of_bad_rows(self, run_gen, tmp_path):
        path = write(tmp_path / "bad.csv", self.BAD)
        _, result = run_gen(CsvExampleGen, input_base=path, max_bad_rows=0.5)
        assert result["bad_rows"] == 2
        with pytest.raises(
            InputDataError, match=re.escape("more than max_bad_rows=0.2")
        ):
            run_gen(CsvExampleGen, input_base=path, max_bad_rows=0.2)

    def test_no_bad_rows_folder_without_bad_rows(self, run_gen, tmp_path):
        path = write(tmp_path / "ok.csv", "a\n1\n")
        examples, result = run_gen(CsvExampleGen, input_base=path, max_bad_rows=5)
        assert result["bad_rows"] == 0
        assert sorted(p.name for p in pathlib.Path(examples.uri).iterdir()) == [
            "Split-eval",
            "Split-train",
        ]

    def test_invalid_utf8_is_a_bad_row(self, run_gen, tmp_path):
        path = write(tmp_path / "latin1.csv", b"n,city\n1,Paris\n2,Z\xfcrich\n")
        with pytest.raises(
            InputDataError, match="line 3: column 'city' is not valid UTF-8"
        ):
            run_gen(CsvExampleGen, input_base=path)


class TestEmptyAndWrongInput:
    def test_a_header_without_rows_is_an_error(self, run_gen, tmp_path):
        path = write(tmp_path / "h.csv", "a,b\n")
        with pytest.raises(InputDataError, match="the input holds no rows"):
            run_gen(CsvExampleGen, input_base=path)

    def test_an_empty_file_is_an_error(self, run_gen, tmp_path):
        path = write(tmp_path / "e.csv", "")
        with pytest.raises(InputDataError, match="the file is empty"):
            run_gen(CsvExampleGen, input_base=path)

    def test_an_input_split_without_rows_is_an_error(self, run_gen, tmp_path):
        write(tmp_path / "in" / "train.csv", "a\n1\n")
        write(tmp_path / "in" / "eval.csv", "a\n")
        with pytest.raises(
            InputDataError, match=re.escape("input split(s) ['eval'] hold no rows")
        ):
            run_gen(
                CsvExampleGen,
                input_base=str(tmp_path / "in"),
                input_splits={"train": "train.csv", "eval": "eval.csv"},
            )

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"column_types": {"fare": "integer"}}, "Did you mean 'int'?"),
            ({"column_types": {"Fare": "float"}}, "Did you mean 'fare'?"),
            ({"skip_columns": ["tipps"]}, "Did you mean 'tips'?"),
            ({"delimiter": ";;"}, "delimiter must be one character"),
            ({"max_bad_rows": -1}, "max_bad_rows must be a count"),
            ({"max_bad_rows": 1.5}, "max_bad_rows must be a count"),
            ({"input_base": "/no/such/file.csv"}, "matches no file or folder"),
        ],
    )
    def test_bad_options_are_explained_before_reading(self, run_gen, options, message):
        with pytest.raises(DefinitionError, match=re.escape(message)):
            run_gen(CsvExampleGen, **{"input_base": str(TAXI), **options})


class TestSpans:
    def test_the_newest_span_is_read_and_recorded(self, run_gen, tmp_path):
        for span, n in ((1, 2), (2, 3)):
            rows_text = "".join(f"{i}\n" for i in range(n))
            write(tmp_path / "in" / f"span-{span}" / "data.csv", "x\n" + rows_text)
        examples, result = run_gen(
            CsvExampleGen, input_base=str(tmp_path / "in"), pattern="span-{SPAN}/*.csv"
        )
        assert sum(result["row_counts"].values()) == 3
        assert examples.span == 2 and result["spans"] == [2]
        examples, result = run_gen(
            CsvExampleGen,
            input_base=str(tmp_path / "in"),
            pattern="span-{SPAN}/*.csv",
            span_range=[1, 2],
        )
        assert sum(result["row_counts"].values()) == 5 and result["spans"] == [1, 2]


def test_a_pipeline_run_records_the_examples_in_the_store(tmp_path):
    gen = CsvExampleGen(
        input_base=str(IRIS),
        input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
    )
    store_url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    pipeline = Pipeline("iris", [gen], root=str(tmp_path / "root"), store=store_url)
    result = pipeline.run()
    produced = result.artifact("CsvExampleGen", "examples")
    store = MetadataStore(store_url)
    try:
        stored = store.get_artifact(produced.id)
        assert stored.state.value == "LIVE"
        assert stored.row_counts == {"train": 120, "eval": 30}
        assert stored.split_names == ["train", "eval"]
        assert pathlib.Path(stored.split_uri("train")).is_dir()
        execution = result.executions["CsvExampleGen"]
        assert store.get_execution(execution.id).result["row_counts"]["eval"] == 30
    finally:
        store.close()
    again = pipeline.run()
    assert again.artifact("CsvExampleGen", "examples").id == produced.id
