"""The input_fn builders on small real Examples: batches, labels, epochs, shuffling,
per-worker shards, per-replica batches, the exact eval pass, and bad arguments."""

import re
import subprocess
import sys
import textwrap

import pytest

from components.input_fn import (
    make_dataset,
    make_eval_input_fn,
    make_input_fn,
    raw_feature_spec,
)
from pipeline import DefinitionError
from tests.components.conftest import write_schema_artifact
from tests.components.test_statistics_gen import write_examples

KINDS = {"id": "int", "x": "float", "s": "string"}
ROWS = 103


def rows(count=ROWS):
    """Rows with a unique id; every fifth has no 's' (a missing value)."""
    return [
        {"id": str(i), "x": str(i / 2), "s": "" if i % 5 == 0 else f"v{i % 3}"}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Examples with train (4 shards) and eval (1 shard) splits, and their schema."""
    root = tmp_path_factory.mktemp("input_fn")
    four = write_examples(root / "four", {"train": rows()}, KINDS, shards=4)
    one = write_examples(root / "one", {"eval": rows()}, KINDS, shards=1)
    schema = write_schema_artifact(root / "schema", rows(), KINDS)
    return four, one, schema


def ids(dataset):
    """Every id the dataset yields, in order (features or (features, labels))."""
    found = []
    for element in dataset:
        features = element[0] if isinstance(element, tuple) else element
        found += [int(v) for v in features["id"].numpy().ravel()]
    return found


def batch_sizes(dataset):
    sizes = []
    for element in dataset:
        features = element[0] if isinstance(element, tuple) else element
        sizes.append(int(features["id"].shape[0]))
    return sizes


def context(workers, index, replicas=None):
    import tensorflow as tf

    return tf.distribute.InputContext(
        num_input_pipelines=workers,
        input_pipeline_id=index,
        num_replicas_in_sync=replicas or workers,
    )


class TestBatches:
    def test_features_are_parsed_as_the_schema_says(self, data):
        import tensorflow as tf

        four, _, schema = data
        features = next(
            iter(make_dataset(four, schema=schema, batch_size=8, shuffle=False))
        )
        assert features["id"].shape == (8, 1) and features["id"].dtype == tf.int64
        assert features["x"].dtype == tf.float32
        assert isinstance(features["s"], tf.SparseTensor)  # sometimes missing
        assert features["s"].values.shape[0] < 8

    def test_a_label_key_splits_off_the_label(self, data):
        four, _, schema = data
        dataset = make_dataset(
            four, schema=schema, label_key="x", batch_size=4, shuffle=False
        )
        features, label = next(iter(dataset))
        assert "x" not in features and sorted(features) == ["id", "s"]
        assert [float(v) for v in label.numpy().ravel()] == [
            i / 2 for i in features["id"].numpy().ravel()
        ]

    def test_several_label_keys_give_a_dict(self, data):
        four, _, schema = data
        features, labels = next(
            iter(
                make_dataset(four, schema=schema, label_key=["x", "id"], shuffle=False)
            )
        )
        assert sorted(labels) == ["id", "x"] and sorted(features) == ["s"]

    def test_one_epoch_keeps_the_last_partial_batch(self, data):
        four, _, schema = data
        dataset = make_dataset(
            four, schema=schema, batch_size=10, shuffle=False, num_epochs=1
        )
        assert batch_sizes(dataset) == [10] * 10 + [3]

    def test_drop_remainder_drops_it(self, data):
        four, _, schema = data
        dataset = make_dataset(
            four,
            schema=schema,
            batch_size=10,
            shuffle=False,
            num_epochs=1,
            drop_remainder=True,
        )
        assert batch_sizes(dataset) == [10] * 10

    def test_epochs_repeat_the_data(self, data):
        four, _, schema = data
        twice = ids(make_dataset(four, schema=schema, batch_size=7, num_epochs=2))
        assert sorted(twice) == sorted(list(range(ROWS)) * 2)
        forever = make_dataset(four, schema=schema, batch_size=50)
        assert sum(batch_sizes(forever.take(10))) == 500

    def test_a_seed_makes_shuffling_reproducible(self, data):
        four, _, schema = data

        def shuffled(seed):
            return ids(
                make_dataset(
                    four, schema=schema, batch_size=16, num_epochs=1, shuffle_seed=seed
                )
            )

        first, second = shuffled(7), shuffled(7)
        assert first == second and sorted(first) == list(range(ROWS))
        in_order = ids(
            make_dataset(
                four, schema=schema, batch_size=16, num_epochs=1, shuffle=False
            )
        )
        assert first != in_order

    def test_a_feature_spec_can_be_given_directly(self, data):
        import tensorflow as tf

        four, _, _ = data
        spec = {"id": tf.io.FixedLenFeature([], tf.int64)}
        features = next(iter(make_dataset(four, feature_spec=spec, batch_size=5)))
        assert list(features) == ["id"] and features["id"].shape == (5,)

    def test_the_raw_taxi_schema_parses_the_taxi_examples(
        self, taxi_examples, taxi_schema
    ):
        import tensorflow as tf

        features, tips = next(
            iter(
                make_dataset(
                    taxi_examples,
                    split="eval",
                    schema=taxi_schema,
                    label_key="tips",
                    batch_size=32,
                )
            )
        )
        assert features["fare"].shape == (32, 1) and tips.shape == (32, 1)
        assert isinstance(features["company"], tf.SparseTensor)
        assert raw_feature_spec(taxi_schema)["fare"] == tf.io.FixedLenFeature(
            [1], tf.float32
        )


class TestExactEval:
    def test_one_pass_in_a_stable_order_with_the_partial_batch(self, data):
        four, _, schema = data
        input_fn = make_eval_input_fn(four, split="train", schema=schema, batch_size=10)
        dataset = input_fn()
        first = ids(dataset)
        assert sorted(first) == list(range(ROWS))  # each example exactly once
        assert batch_sizes(dataset) == [10] * 10 + [3]
        assert ids(dataset) == first  # iterating again: the same order
        assert ids(input_fn()) == first  # and so does a fresh dataset

    def test_sharded_eval_passes_add_up_to_the_split(self, data):
        four, one, schema = data
        for examples, split in ((four, "train"), (one, "eval")):
            input_fn = make_eval_input_fn(
                examples, split=split, schema=schema, batch_size=10
            )
            shares = [ids(input_fn(context(2, i))) for i in range(2)]
            assert not set(shares[0]) & set(shares[1])
            assert sorted(shares[0] + shares[1]) == list(range(ROWS))
            assert shares == [ids(input_fn(context(2, i))) for i in range(2)]

    def test_settings_that_break_exactness_are_refused(self, data):
        four, _, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "make_eval_input_fn: ['drop_remainder', 'shuffle'] cannot be set; an "
                "exact evaluation reads every example once, in order."
            ),
        ):
            make_eval_input_fn(four, schema=schema, shuffle=True, drop_remainder=True)


class TestSharding:
    def test_two_workers_get_disjoint_complete_file_shards(self, data):
        four, _, schema = data
        input_fn = make_input_fn(four, schema=schema, batch_size=8, num_epochs=1)
        shares = [ids(input_fn(context(2, i))) for i in range(2)]
        assert not set(shares[0]) & set(shares[1])
        assert sorted(shares[0] + shares[1]) == list(range(ROWS))
        # Rows went to shard (id % 4): worker 0 reads shards 0 and 2, whole.
        assert {i % 4 for i in shares[0]} == {0, 2}
        assert {i % 4 for i in shares[1]} == {1, 3}

    def test_with_too_few_files_records_are_sharded(self, data):
        _, one, schema = data
        input_fn = make_input_fn(
            one, split="eval", schema=schema, batch_size=8, num_epochs=1
        )
        shares = [ids(input_fn(context(2, i))) for i in range(2)]
        assert not set(shares[0]) & set(shares[1])
        assert sorted(shares[0] + shares[1]) == list(range(ROWS))
        assert (len(shares[0]), len(shares[1])) == (52, 51)

    def test_records_can_be_sharded_even_with_enough_files(self, data):
        four, _, schema = data
        input_fn = make_input_fn(
            four, schema=schema, batch_size=8, num_epochs=1, shard_by="record"
        )
        shares = [ids(input_fn(context(2, i))) for i in range(2)]
        assert not set(shares[0]) & set(shares[1])
        assert sorted(shares[0] + shares[1]) == list(range(ROWS))
        assert (len(shares[0]), len(shares[1])) == (52, 51)

    def test_file_sharding_with_too_few_files_is_refused(self, data):
        _, one, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "shard_by='file' needs at least one file per input pipeline: 1 file(s) "
                "for 2 pipelines."
            ),
        ):
            make_dataset(
                one,
                split="eval",
                schema=schema,
                shard_by="file",
                input_context=context(2, 0),
            )

    def test_a_sharded_dataset_is_not_sharded_again_by_a_strategy(self, data):
        import tensorflow as tf

        four, _, schema = data
        dataset = make_dataset(four, schema=schema, input_context=context(2, 1))
        policy = dataset.options().experimental_distribute.auto_shard_policy
        assert policy == tf.data.experimental.AutoShardPolicy.OFF


class TestBatchSizes:
    def test_batch_size_is_per_replica(self, data):
        four, _, schema = data
        ctx = context(1, 0, replicas=4)
        dataset = make_dataset(four, schema=schema, batch_size=8, input_context=ctx)
        assert batch_sizes(dataset.take(1)) == [8]

    def test_a_global_batch_is_divided_over_the_replicas(self, data):
        four, _, schema = data
        ctx = context(1, 0, replicas=4)
        dataset = make_dataset(
            four, schema=schema, global_batch_size=32, input_context=ctx
        )
        assert batch_sizes(dataset.take(1)) == [8]

    def test_a_global_batch_that_does_not_divide_is_refused(self, data):
        four, _, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "global_batch_size=30 cannot be split evenly over 4 replicas; use a "
                "multiple of 4, or pass batch_size (per replica)."
            ),
        ):
            make_dataset(
                four,
                schema=schema,
                global_batch_size=30,
                input_context=context(1, 0, replicas=4),
            )

    def test_both_batch_sizes_are_refused(self, data):
        four, _, schema = data
        with pytest.raises(DefinitionError, match="not both"):
            make_dataset(four, schema=schema, batch_size=8, global_batch_size=32)

    @pytest.mark.parametrize("bad", [0, -1, 2.5, True])
    def test_a_batch_size_must_be_a_positive_int(self, data, bad):
        four, _, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(f"batch_size must be a positive int, got {bad!r}."),
        ):
            make_dataset(four, schema=schema, batch_size=bad)


class TestBadArguments:
    def test_an_unknown_split_is_named_with_a_suggestion(self, data):
        four, _, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"Examples at {four.uri} have no split 'trian'; they have ['train']. "
                f"Did you mean 'train'?"
            ),
        ):
            make_dataset(four, split="trian", schema=schema)

    def test_an_unknown_label_is_named_with_a_suggestion(self, data):
        four, _, schema = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "label_key 'ids' is not a feature of these examples. Did you mean "
                "'id'? Their features: ['id', 's', 'x']."
            ),
        ):
            make_dataset(four, schema=schema, label_key="ids")

    def test_one_way_to_parse_must_be_given(self, data):
        four, _, schema = data
        with pytest.raises(DefinitionError, match=re.escape("got none.")):
            make_dataset(four)
        with pytest.raises(
            DefinitionError, match=re.escape("got ['schema', 'feature_spec']")
        ):
            make_dataset(four, schema=schema, feature_spec={})

    def test_a_missing_schema_file_is_named(self, data, tmp_path):
        four, _, _ = data
        with pytest.raises(
            DefinitionError,
            match=re.escape(f"No schema at {tmp_path / 'schema.pbtxt'}"),
        ):
            make_dataset(four, schema=str(tmp_path))

    def test_num_epochs_must_be_positive(self, data):
        four, _, schema = data
        with pytest.raises(DefinitionError, match="num_epochs must be a positive int"):
            make_dataset(four, schema=schema, num_epochs=0)

    def test_the_input_context_comes_when_the_input_fn_is_called(self, data):
        four, _, schema = data
        with pytest.raises(DefinitionError, match="input_context is passed"):
            make_input_fn(four, schema=schema, input_context=context(2, 0))

    def test_an_examples_uri_works_as_well_as_the_artifact(self, data):
        four, _, schema = data
        dataset = make_dataset(four.uri, schema=schema.schema_path, shuffle=False)
        assert sorted(ids(dataset.take(1))) == sorted(
            ids(make_dataset(four, schema=schema, shuffle=False).take(1))
        )


@pytest.mark.slow
class TestTransformedData:
    def test_transformed_examples_parse_with_the_transform_graph(self, taxi_transform):
        graph, transformed, _ = taxi_transform
        input_fn = make_eval_input_fn(
            transformed, transform_graph=graph, label_key="big_tipper", batch_size=128
        )
        sizes, total = [], 0
        for features, label in input_fn():
            assert (
                "big_tipper" not in features
                and features["fare_xf"].shape == label.shape
            )
            sizes.append(int(label.shape[0]))
            total += int(label.numpy().sum())
        assert sizes == [128] * 39 + [5000 - 39 * 128]
        assert 0 < total < 5000


@pytest.mark.slow
def test_a_mirrored_strategy_gets_per_replica_batches(data, tmp_path):
    """Two logical CPUs, one worker: the global batch is 2 x the per-replica batch."""
    four, _, schema = data
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from components.input_fn import make_input_fn
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        input_fn = make_input_fn({four.uri!r}, schema={schema.schema_path!r},
                                 batch_size=4, shuffle=False)
        dist = strategy.distribute_datasets_from_function(input_fn)
        batch = next(iter(dist))
        per_replica = strategy.experimental_local_results(batch["id"])
        print([int(t.shape[0]) for t in per_replica])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[4, 4]"
