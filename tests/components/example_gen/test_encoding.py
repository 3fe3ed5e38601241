"""encoding.py: Arrow rows to tf.Example bytes, checked against protobuf itself."""

import random

import pyarrow as pa
import pytest

from components.example_gen.encoding import encode_examples

tf = pytest.importorskip("tensorflow")


def reference(batch: pa.RecordBatch) -> list:
    """Each row as a tf.train.Example built by protobuf itself."""
    out = []
    for row in batch.to_pylist():
        example = tf.train.Example()
        for name, value in row.items():
            if value is None:
                continue
            arrow_type = batch.schema.field(name).type
            if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
                arrow_type = arrow_type.value_type
            values = value if isinstance(value, list) else [value]
            feature = example.features.feature[name]
            if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
                feature.int64_list.value.extend(int(v) for v in values)
            elif pa.types.is_floating(arrow_type):
                feature.float_list.value.extend(values)
            else:
                feature.bytes_list.value.extend(
                    v.encode() if isinstance(v, str) else v for v in values
                )
        out.append(example)
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def keys_in_order(record: bytes) -> list[bytes]:
    """The feature names in the order they are written (a minimal wire-format walk)."""
    assert record[0] == 0x0A
    size, pos = _varint(record, 1)
    assert size == len(record) - pos
    keys = []
    while pos < len(record):
        assert record[pos] == 0x0A
        entry, pos = _varint(record, pos + 1)
        key_size, key_at = _varint(record, pos + 1)
        keys.append(record[key_at : key_at + key_size])
        pos += entry
    assert pos == len(record)
    return keys


def assert_same_examples(records: list[bytes], batch: pa.RecordBatch) -> None:
    expected = reference(batch)
    assert len(records) == len(expected)
    for record, example in zip(records, expected):
        assert tf.train.Example.FromString(record) == example
        assert len(record) == example.ByteSize()
        keys = keys_in_order(record)
        assert keys == sorted(keys)


def random_batch(rows: int, seed: int) -> pa.RecordBatch:
    rng = random.Random(seed)

    def maybe(make):
        return None if rng.random() < 0.2 else make()

    ints = [0, 1, -1, 127, 128, 2**31, -(2**63), 2**63 - 1, 300, 16383, 16384]
    text = 'aé€😀,"\n '

    def string():
        return "".join(rng.choice(text) for _ in range(rng.choice([0, 1, 5, 130, 400])))

    return pa.record_batch(
        {
            "int": pa.array([maybe(lambda: rng.choice(ints)) for _ in range(rows)]),
            "float": pa.array(
                [
                    maybe(lambda: rng.choice([0.0, -1.5, 1e30, rng.random()]))
                    for _ in range(rows)
                ]
            ),
            "text": pa.array([maybe(string) for _ in range(rows)], pa.string()),
            "flag": pa.array([maybe(lambda: rng.random() < 0.5) for _ in range(rows)]),
            "ints": pa.array(
                [
                    maybe(lambda: [rng.choice(ints) for _ in range(rng.randint(0, 5))])
                    for _ in range(rows)
                ]
            ),
            "floats": pa.array(
                [
                    maybe(lambda: [rng.random() for _ in range(rng.randint(0, 40))])
                    for _ in range(rows)
                ],
                pa.list_(pa.float32()),
            ),
            "words": pa.array(
                [
                    maybe(lambda: [string() for _ in range(rng.randint(0, 4))])
                    for _ in range(rows)
                ],
                pa.large_list(pa.large_string()),
            ),
            "k" * 200: pa.array([maybe(lambda: 1) for _ in range(rows)], pa.int32()),
            "nothing": pa.nulls(rows),
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_records_parse_to_the_examples_protobuf_builds(seed):
    batch = random_batch(400, seed)
    assert_same_examples(encode_examples(batch).to_pylist(), batch)


def test_a_slice_of_a_batch_encodes_like_a_fresh_one():
    batch = random_batch(300, 2).slice(120, 77)
    assert_same_examples(encode_examples(batch).to_pylist(), batch)


def test_equal_rows_give_equal_bytes_whatever_the_column_order():
    one = pa.record_batch({"b": ["x"], "a": [1.5], "ab": [[1, 2]]})
    other = pa.record_batch({"ab": [[1, 2]], "a": [1.5], "b": ["x"]})
    assert encode_examples(one).to_pylist() == encode_examples(other).to_pylist()


def test_a_missing_value_is_an_absent_feature():
    batch = pa.record_batch({"a": [1, None], "b": ["x", None], "c": [None, None]})
    first, second = (
        tf.train.Example.FromString(r) for r in encode_examples(batch).to_pylist()
    )
    assert sorted(first.features.feature) == ["a", "b"]
    assert list(second.features.feature) == []


def test_floats_are_float32_and_keep_nan_and_infinity():
    batch = pa.record_batch({"x": [0.1, float("nan"), float("-inf")]})
    values = [
        tf.train.Example.FromString(r).features.feature["x"].float_list.value[0]
        for r in encode_examples(batch).to_pylist()
    ]
    assert values[0] == pytest.approx(0.1, rel=1e-7) and values[0] != 0.1
    assert values[1] != values[1] and values[2] == float("-inf")


def test_an_empty_list_is_a_present_feature_with_no_values():
    batch = pa.record_batch({"x": pa.array([[]], pa.list_(pa.int64()))})
    example = tf.train.Example.FromString(encode_examples(batch)[0].as_py())
    assert example.features.feature["x"].HasField("int64_list")
    assert list(example.features.feature["x"].int64_list.value) == []


def test_a_table_with_several_chunks_is_one_batch():
    table = pa.concat_tables([pa.table({"x": [1, 2]}), pa.table({"x": [3]})])
    assert len(encode_examples(table)) == 3


def test_no_rows_give_no_records():
    assert (
        encode_examples(pa.record_batch({"x": pa.array([], pa.int64())})).to_pylist()
        == []
    )


def test_a_type_without_a_tf_example_form_is_named():
    batch = pa.record_batch({"when": pa.array([1], pa.timestamp("s"))})
    with pytest.raises(
        TypeError, match=r"column 'when' has the Arrow type timestamp\[s\]"
    ):
        encode_examples(batch)


def test_a_null_inside_a_list_is_named():
    batch = pa.record_batch({"xs": pa.array([[1, None]])})
    with pytest.raises(
        ValueError, match="column 'xs' holds a list with a missing value"
    ):
        encode_examples(batch)
