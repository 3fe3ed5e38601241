"""csv_source.py: headers, record-aligned blocks and bad rows, without Beam."""

import dataclasses
import re

import pytest

from components.example_gen.bad_rows import InputDataError
from components.example_gen.csv_source import CsvSource, read_header
from components.example_gen.write import Task

HEADER = "id,name,score\n"
QUOTED = (
    '1,"Smith, John",2.5\n'
    '2,"multi\nline ""quoted""\nname",3\n'
    "3,plain,4\n"
    '4,"a,b\n\nc",5\n'
    "5,last,6\n"
)


def source_for(path, block_size=1 << 20, **options):
    header = read_header(str(path), options.get("delimiter", ","))
    source = CsvSource(
        columns=header.columns,
        read_columns=header.columns,
        types=options.get("types", {}),
        delimiter=options.get("delimiter", ","),
        block_size=block_size,
    )
    task = Task(
        str(path), None, 0, start=header.data_start, first_line=header.data_line
    )
    return source, task


def read_all(source, task):
    rows, bad = [], []
    blocks = list(source.plan(task))
    survey = source.merge_surveys(source.survey(b) for b in blocks)
    for block in blocks:
        for batch in source.read(block, survey):
            rows += batch.table.to_pylist() if batch.table is not None else []
            bad += batch.bad_rows
    return blocks, rows, bad


class TestHeader:
    def test_a_byte_order_mark_and_crlf_are_skipped(self, tmp_path):
        path = tmp_path / "bom.csv"
        path.write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n")
        header = read_header(str(path), ",")
        assert header.columns == ("a", "b") and header.data_start == 8
        assert header.data_line == 2

    def test_a_quoted_header_may_hold_delimiters_and_line_breaks(self, tmp_path):
        path = tmp_path / "q.csv"
        path.write_text('"a,1","b\nc"\n1,2\n')
        header = read_header(str(path), ",")
        assert header.columns == ("a,1", "b\nc") and header.data_line == 3

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "the file is empty"),
            (b"\n\n", "the file is empty"),
            (b"a,,c\n1,2,3\n", "column 2 of the header has no name"),
            (b"a,b,a\n", "the header names ['a'] more than once"),
            (b"a,\xff\n", "line 1: the header is not valid UTF-8"),
        ],
    )
    def test_bad_headers_are_explained(self, tmp_path, content, message):
        path = tmp_path / "bad.csv"
        path.write_bytes(content)
        with pytest.raises(InputDataError, match=re.escape(message)):
            read_header(str(path), ",")


class TestBlocks:
    def test_blocks_end_at_records_even_inside_quoted_line_breaks(self, tmp_path):
        path = tmp_path / "q.csv"
        path.write_text(HEADER + QUOTED * 200)
        _, whole, _ = read_all(*source_for(path))
        blocks, pieces, _ = read_all(*source_for(path, block_size=97))
        assert len(blocks) > 50
        assert pieces == whole
        assert whole[1] == {"id": 2, "name": 'multi\nline "quoted"\nname', "score": 3.0}

    def test_each_block_knows_the_line_it_starts_on(self, tmp_path):
        path = tmp_path / "q.csv"
        path.write_text(HEADER + QUOTED * 30)
        lines = path.read_text().split("\n")
        for block in source_for(path, block_size=64)[0].plan(source_for(path)[1]):
            first = path.read_bytes()[block.start : block.end].decode().split("\n")[0]
            assert lines[block.first_line - 1] == first

    def test_a_file_with_unpaired_quotes_is_one_block(self, tmp_path):
        path = tmp_path / "odd.csv"
        path.write_text("a,b\n" + "1,5\n" * 99 + '2,5"\n')
        blocks, rows, _ = read_all(*source_for(path, block_size=50))
        assert len(blocks) == 1 and rows[-1] == {"a": 2, "b": '5"'}


class TestBadRows:
    def test_lines_and_text_of_bad_rows_across_blocks(self, tmp_path):
        path = tmp_path / "bad.csv"
        good = 'x,"two\nlines",1\n'
        path.write_text("a,b,c\n" + good * 40 + "only,two\n" + good * 40 + "1,2,zz\n")
        source, task = source_for(path, block_size=100, types={"c": "int"})
        blocks, rows, bad = read_all(source, task)
        assert len(blocks) > 5 and len(rows) == 80
        assert [(b.line, b.reason, b.text) for b in bad] == [
            (82, "expected 3 fields, got 2", "only,two"),
            (163, "column 'c': 'zz' is not an int", "1,2,zz"),
        ]

    def test_invalid_utf8_is_a_bad_row_and_does_not_decide_the_type(self, tmp_path):
        path = tmp_path / "latin1.csv"
        path.write_bytes(b"n,city\n1,Paris\n2,Z\xfcrich\n3,Rome\n")
        _, rows, bad = read_all(*source_for(path))
        assert [r["city"] for r in rows] == ["Paris", "Rome"]
        assert [(b.line, b.reason) for b in bad] == [
            (3, "column 'city' is not valid UTF-8 (save the file as UTF-8)")
        ]

    def test_a_block_without_the_bad_rows_is_unaffected(self, tmp_path):
        path = tmp_path / "ok.csv"
        path.write_text("a,b\n1,2\n\n3,4\n")
        _, rows, bad = read_all(*source_for(path))
        assert rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}] and bad == []


def test_types_are_inferred_over_every_block(tmp_path):
    path = tmp_path / "late.csv"
    lines = ["n,x,word,empty"] + [f"{i},{i},w{i}," for i in range(300)]
    lines[-1] = "299,2.5,w299,"
    path.write_text("\n".join(lines) + "\n")
    source, task = source_for(path, block_size=200)
    blocks = list(source.plan(task))
    surveys = [source.survey(b) for b in blocks]
    assert surveys[0] == {"n": "int", "x": "int", "word": "string", "empty": None}
    merged = source.merge_surveys(surveys)
    assert merged == {"n": "int", "x": "float", "word": "string", "empty": None}
    assert dataclasses.replace(source, types={"x": "string"}).column_types(merged)[
        "x"
    ] == ("string")
