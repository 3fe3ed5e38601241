"""The metadata store's contract, run against every backend.

Each backend is a function in ``BACKENDS`` that gives a fresh store's URL; the
``store`` fixture runs every contract test on each: in memory, a SQLite file, and a
database of its own on the session's PostgreSQL server (``tests/postgres.py``; those
tests are skipped, or fail under ``CI=true``, when PostgreSQL is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import registry
from pipeline.artifacts import (
    Artifact,
    ArtifactState,
    Examples,
    Model,
    ModelBlessing,
    Schema,
)
from pipeline.errors import MetadataStoreError
from pipeline.metadata import (
    ExecutionRecord,
    ExecutionState,
    MetadataStore,
    RunState,
    default_store_url,
    migrations,
    schema,
)
from pipeline.metadata import store as store_module


def _sqlite_file(request: pytest.FixtureRequest) -> str:
    path = request.getfixturevalue("tmp_path") / "store" / "metadata.sqlite"
    return f"sqlite:///{path}"


def _postgresql(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("postgres_url")


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "in-memory": lambda request: "sqlite://",
    "sqlite-file": _sqlite_file,
    "postgresql": _postgresql,
}
DURABLE = ["sqlite-file", "postgresql"]
"""The backends a store outlives its process on: where schema versions matter."""


@pytest.fixture(params=list(BACKENDS))
def store(request: pytest.FixtureRequest) -> Iterator[MetadataStore]:
    with MetadataStore(BACKENDS[request.param](request)) as opened:
        yield opened


@pytest.fixture(params=DURABLE)
def durable_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh SQLite file or PostgreSQL database, no tables yet."""
    return BACKENDS[request.param](request)


def _sql(store: MetadataStore, statement: sa.Executable) -> None:
    """Changes the database behind the API's back, as a crash or an old version would."""
    with store._engine.begin() as conn:
        conn.execute(statement)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class Runner:
    """Drives the store as a runner does, one short call per step."""

    def __init__(self, store: MetadataStore, name: str = "taxi"):
        self.store = store
        self.name = name
        self.run_id = store.start_run(name).run_id

    def new_run(self) -> str:
        self.run_id = self.store.start_run(self.name).run_id
        return self.run_id

    def start(
        self,
        component_id: str,
        inputs: dict[str, Artifact] | None = None,
        *,
        fingerprint: str | None = None,
    ) -> ExecutionRecord:
        return self.store.create_execution(
            run_id=self.run_id,
            component_id=component_id,
            component_type=component_id.title(),
            parameters={"p": 1},
            fingerprint=fingerprint,
            code_version="1a2b3c4d",
            inputs=inputs or {},
        )

    def execute(
        self,
        component_id: str,
        inputs: dict[str, Artifact] | None = None,
        outputs: dict[str, Artifact] | None = None,
        *,
        fingerprint: str | None = None,
    ) -> ExecutionRecord:
        record = self.start(component_id, inputs, fingerprint=fingerprint)
        outputs = outputs or {}
        self.store.register_outputs(record.id, outputs)
        return self.store.publish_execution(record.id, outputs)


def _examples(uri: str = "/r/gen/examples") -> Examples:
    return Examples(uri=uri, properties={"split_names": ["train", "eval"]})


class TestRuns:
    def test_generated_run_ids_are_readable_and_unique(self, store):
        ids = {store.start_run("taxi").run_id for _ in range(30)}
        assert len(ids) == 30
        for run_id in ids:
            assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", run_id), run_id

    def test_run_life_cycle(self, store):
        started = store.start_run("taxi", run_id="r1", properties={"root": "/runs"})
        assert started.state is RunState.RUNNING
        assert (started.run_id, started.pipeline_name) == ("r1", "taxi")
        assert started.properties == {"root": "/runs"}
        assert started.end_time is None and started.duration is None

        finished = store.finish_run("r1", RunState.FAILED)

        assert finished.state is RunState.FAILED
        assert finished.end_time >= finished.start_time == started.start_time
        assert finished.duration == finished.end_time - finished.start_time
        assert store.get_run("r1") == finished

    def test_run_ids_are_unique(self, store):
        store.start_run("taxi", run_id="r1")
        with pytest.raises(
            MetadataStoreError, match="A run with id 'r1' already exists"
        ):
            store.start_run("iris", run_id="r1")

    def test_finish_run_needs_a_final_state(self, store):
        store.start_run("taxi", run_id="r1")
        with pytest.raises(MetadataStoreError, match="got RUNNING"):
            store.finish_run("r1", RunState.RUNNING)

    def test_unknown_run_suggests_close_ids(self, store):
        store.start_run("taxi", run_id="20261122-193615-3f9a")
        store.start_run("taxi", run_id="something-else")
        with pytest.raises(
            MetadataStoreError,
            match=re.escape("No run '20261122-193615-3f9b' in the metadata store ")
            + ".*"
            + re.escape("Did you mean '20261122-193615-3f9a'?"),
        ):
            store.get_run("20261122-193615-3f9b")
        with pytest.raises(MetadataStoreError, match="No run 'nope'"):
            store.finish_run("nope", RunState.COMPLETE)
        with pytest.raises(MetadataStoreError, match="No run 'nope'"):
            store.executions_of_run("nope")

    def test_list_runs_newest_first_with_limit_and_filter(self, store):
        for run_id, pipeline in [
            ("a", "taxi"),
            ("b", "iris"),
            ("c", "taxi"),
            ("d", "taxi"),
        ]:
            store.start_run(pipeline, run_id=run_id)

        assert [r.run_id for r in store.list_runs()] == ["d", "c", "b", "a"]
        assert [r.run_id for r in store.list_runs(limit=2)] == ["d", "c"]
        assert [r.run_id for r in store.list_runs(pipeline_name="taxi", limit=2)] == [
            "d",
            "c",
        ]
        assert [r.run_id for r in store.list_runs(pipeline_name="iris")] == ["b"]
        assert store.list_runs(pipeline_name="unknown") == []

    def test_pipelines(self, store):
        assert store.pipelines() == []
        for name in ("taxi", "iris", "taxi"):
            store.start_run(name)
        assert store.pipelines() == ["iris", "taxi"]


class TestExecutions:
    def test_execution_life_cycle(self, store):
        p = Runner(store)
        examples = _examples()
        p.execute("gen", outputs={"examples": examples})

        record = store.create_execution(
            run_id=p.run_id,
            component_id="trainer",
            component_type="Trainer",
            parameters={"train_steps": 10, "layers": [8, 4]},
            fingerprint="fp-1",
            code_version="abc",
            inputs={"examples": examples},
        )
        assert record.state is ExecutionState.RUNNING
        assert (record.run_id, record.pipeline_name) == (p.run_id, "taxi")
        assert (record.component_id, record.component_type) == ("trainer", "Trainer")
        assert record.parameters == {"train_steps": 10, "layers": [8, 4]}
        assert (record.fingerprint, record.code_version) == ("fp-1", "abc")
        assert (record.pid, record.host) == (os.getpid(), socket.gethostname())
        assert record.end_time is None and record.duration is None
        assert record.error is None and record.result is None
        assert store.inputs_of(record.id) == {"examples": examples}

        model = Model(uri="/r/trainer/model/tmp")
        store.register_outputs(record.id, {"model": model})
        assert model.id is not None and model.state is ArtifactState.PENDING
        assert store.outputs_of(record.id) == {"model": model}

        model.uri = "/r/trainer/model/final"
        done = store.publish_execution(
            record.id, {"model": model}, result={"loss": 0.5}
        )

        assert done.state is ExecutionState.COMPLETE
        assert done.result == {"loss": 0.5}
        assert done.end_time >= done.start_time and done.duration >= 0
        assert model.state is ArtifactState.LIVE
        assert store.get_artifact(model.id).uri == "/r/trainer/model/final"
        assert store.outputs_of(record.id) == {"model": model}
        assert store.get_execution(record.id) == done

    def test_outputs_stay_pending_until_publish(self, store):
        p = Runner(store)
        record = p.start("gen", fingerprint="fp")
        examples = _examples()
        store.register_outputs(record.id, {"examples": examples})

        assert store.get_artifacts() == []
        assert store.get_artifact(examples.id).state is ArtifactState.PENDING
        assert store.find_cached_execution("fp") is None

        examples.row_counts = {"train": 8, "eval": 2}
        store.publish_execution(record.id, {"examples": examples})

        assert store.get_artifacts() == [examples]
        assert store.get_artifact(examples.id).row_counts == {"train": 8, "eval": 2}

    def test_publish_with_wrong_outputs_changes_nothing(self, store):
        p = Runner(store)
        record = p.start("trainer")
        model, run = Model(uri="/m"), Model(uri="/run")
        store.register_outputs(record.id, {"model": model, "model_run": run})

        with pytest.raises(
            MetadataStoreError,
            match=re.escape("missing ['model_run'], not registered []"),
        ):
            store.publish_execution(record.id, {"model": model})
        with pytest.raises(MetadataStoreError, match="but artifact .* was registered"):
            store.publish_execution(record.id, {"model": run, "model_run": model})

        assert store.get_execution(record.id).state is ExecutionState.RUNNING
        for artifact in (model, run):
            assert store.get_artifact(artifact.id).state is ArtifactState.PENDING
        assert model.state is ArtifactState.PENDING

    def test_fail_abandons_outputs(self, store):
        p = Runner(store)
        record = p.start("trainer")
        model = Model(uri="/m")
        store.register_outputs(record.id, {"model": model})
        other = Model(uri="/other")

        failed = store.fail_execution(
            record.id, "ValueError: no rows", outputs={"model": model, "x": other}
        )

        assert failed.state is ExecutionState.FAILED
        assert failed.error == "ValueError: no rows"
        assert failed.end_time is not None
        assert model.state is ArtifactState.ABANDONED
        assert store.get_artifact(model.id).state is ArtifactState.ABANDONED
        assert store.get_artifacts(state=None) == [model]

    def test_fail_without_registered_outputs(self, store):
        record = Runner(store).start("gen")
        assert store.fail_execution(record.id, "boom").state is ExecutionState.FAILED

    def test_finished_execution_cannot_change(self, store):
        p = Runner(store)
        record = p.start("trainer")
        store.fail_execution(record.id, "boom")
        message = f"execution {record.id}: it is FAILED, not RUNNING"

        with pytest.raises(MetadataStoreError, match=re.escape(message)):
            store.publish_execution(record.id, {})
        with pytest.raises(MetadataStoreError, match=re.escape(message)):
            store.register_outputs(record.id, {"model": Model(uri="/m")})
        with pytest.raises(MetadataStoreError, match=re.escape(message)):
            store.fail_execution(record.id, "again")
        assert store.get_execution(record.id).error == "boom"

    def test_register_outputs_refuses_stored_artifacts_and_repeats(self, store):
        p = Runner(store)
        examples = _examples()
        p.execute("gen", outputs={"examples": examples})
        record = p.start("trainer")

        with pytest.raises(MetadataStoreError, match="output 'e' is already stored"):
            store.register_outputs(record.id, {"e": examples})
        store.register_outputs(record.id, {"model": Model(uri="/m")})
        with pytest.raises(
            MetadataStoreError, match=r"already registered outputs \['model'\]"
        ):
            store.register_outputs(record.id, {"model": Model(uri="/m2")})

    def test_inputs_must_be_stored_and_live(self, store):
        p = Runner(store)
        with pytest.raises(MetadataStoreError, match="'examples' .* is not stored"):
            p.start("trainer", {"examples": _examples()})

        pending = _examples()
        store.register_outputs(p.start("gen").id, {"examples": pending})
        with pytest.raises(
            MetadataStoreError,
            match=f"Component 'trainer': artifact {pending.id} is PENDING; only LIVE",
        ):
            p.start("trainer", {"examples": pending})

    def test_parameters_must_be_json(self, store):
        p = Runner(store)
        with pytest.raises(
            MetadataStoreError,
            match="Parameters of component 'gen' must hold only JSON values",
        ):
            store.create_execution(
                run_id=p.run_id,
                component_id="gen",
                component_type="Gen",
                parameters={"path": Path("/data")},
                fingerprint=None,
                code_version=None,
                inputs={},
            )

    def test_unknown_execution(self, store):
        with pytest.raises(MetadataStoreError, match="No execution with id 99"):
            store.get_execution(99)
        with pytest.raises(MetadataStoreError, match="No execution with id 99"):
            store.outputs_of(99)
        with pytest.raises(MetadataStoreError, match="execution 99: no such execution"):
            store.publish_execution(99, {})

    def test_events_link_producers_and_consumers(self, store):
        p = Runner(store)
        examples, schema_ = _examples(), Schema(uri="/r/schema")
        gen = p.execute("gen", outputs={"examples": examples})
        schema_gen = p.execute(
            "schema_gen", {"examples": examples}, {"schema": schema_}
        )
        model = Model(uri="/r/model")
        trainer = p.execute(
            "trainer", {"examples": examples, "schema": schema_}, {"model": model}
        )

        assert store.inputs_of(trainer.id) == {"examples": examples, "schema": schema_}
        assert list(store.inputs_of(trainer.id)) == ["examples", "schema"]
        assert store.outputs_of(gen.id) == {"examples": examples}
        assert store.producer_of(examples.id) == gen
        assert store.producer_of(model.id) == trainer
        assert store.consumers_of(examples.id) == [schema_gen, trainer]
        assert store.consumers_of(model.id) == []

    def test_cached_execution_record(self, store):
        p = Runner(store)
        examples = _examples()
        p.execute("gen", outputs={"examples": examples})
        model = Model(uri="/r/model")
        original = p.execute(
            "trainer", {"examples": examples}, {"model": model}, fingerprint="fp"
        )
        other = Runner(store, "taxi-copy")

        earlier, outputs = store.find_cached_execution("fp")
        cached = store.record_cached_execution(
            run_id=other.run_id,
            component_id="trainer",
            component_type="Trainer",
            parameters={"p": 1},
            fingerprint="fp",
            code_version="1a2b3c4d",
            inputs={"examples": examples},
            outputs=outputs,
            cached_from=earlier.id,
        )

        assert earlier == original and outputs == {"model": model}
        assert cached.state is ExecutionState.CACHED
        assert (cached.run_id, cached.pipeline_name) == (other.run_id, "taxi-copy")
        assert cached.cached_from == original.id
        assert cached.start_time == cached.end_time
        assert store.inputs_of(cached.id) == {"examples": examples}
        assert store.outputs_of(cached.id) == {"model": model}
        assert store.producer_of(model.id) == original
        assert store.consumers_of(examples.id) == [original, cached]
        assert store.get_artifacts(pipeline_name="taxi-copy") == [model]
        assert store.find_cached_execution("fp")[0] == original
        assert [e.id for e in store.executions_of_run(other.run_id)] == [cached.id]

    def test_cached_execution_needs_live_outputs(self, store):
        p = Runner(store)
        record = p.start("gen")
        examples = _examples()
        store.register_outputs(record.id, {"examples": examples})
        with pytest.raises(MetadataStoreError, match="is PENDING; only LIVE"):
            store.record_cached_execution(
                run_id=p.run_id,
                component_id="gen",
                component_type="Gen",
                parameters={},
                fingerprint="fp",
                code_version=None,
                inputs={},
                outputs={"examples": examples},
                cached_from=record.id,
            )

    def test_skipped_execution_record(self, store):
        p = Runner(store)
        skipped = store.record_skipped_execution(
            run_id=p.run_id,
            component_id="pusher",
            component_type="Pusher",
            reason="upstream component(s) ['trainer'] failed",
        )
        assert skipped.state is ExecutionState.SKIPPED
        assert skipped.error == "upstream component(s) ['trainer'] failed"
        assert skipped.duration == 0
        assert skipped.parameters == {}
        assert store.inputs_of(skipped.id) == store.outputs_of(skipped.id) == {}

    def test_executions_of_run_in_creation_order(self, store):
        p = Runner(store)
        first = p.execute("gen")
        second = p.start("trainer")
        p.new_run()
        p.execute("gen")
        run_ids = {e.run_id for e in store.executions_of_run(first.run_id)}

        assert store.executions_of_run(first.run_id) == [first, second]
        assert run_ids == {first.run_id}

    def test_threads_share_one_store(self, store):
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                p = Runner(store, f"pipeline-{worker % 2}")
                for step in range(10):
                    examples = _examples(f"/w{worker}/{step}")
                    p.execute(
                        "gen", outputs={"examples": examples}, fingerprint=f"{worker}"
                    )
                store.finish_run(p.run_id, RunState.COMPLETE)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert len(store.get_artifacts()) == 60
        assert all(r.state is RunState.COMPLETE for r in store.list_runs())
        assert store.pipelines() == ["pipeline-0", "pipeline-1"]


class TestCache:
    def test_newest_complete_execution_wins(self, store):
        p = Runner(store)
        old = p.execute("gen", outputs={"examples": _examples("/1")}, fingerprint="fp")
        new_examples = _examples("/2")
        new = p.execute("gen", outputs={"examples": new_examples}, fingerprint="fp")
        p.execute("gen", outputs={"examples": _examples("/3")}, fingerprint="other")

        found, outputs = store.find_cached_execution("fp")

        assert found == new != old
        assert outputs == {"examples": new_examples}
        assert store.find_cached_execution("unknown") is None

    def test_failed_and_running_executions_are_ignored(self, store):
        p = Runner(store)
        complete = p.execute(
            "gen", outputs={"examples": _examples("/1")}, fingerprint="fp"
        )
        failed = p.start("gen", fingerprint="fp")
        store.register_outputs(failed.id, {"examples": _examples("/2")})
        store.fail_execution(failed.id, "boom")
        p.start("gen", fingerprint="fp")

        assert store.find_cached_execution("fp")[0] == complete

    def test_executions_with_any_non_live_output_are_ignored(self, store):
        p = Runner(store)
        old = p.execute("gen", outputs={"examples": _examples("/1")}, fingerprint="fp")
        gone = Model(uri="/gone")
        p.execute(
            "gen",
            outputs={"examples": _examples("/2"), "model": gone},
            fingerprint="fp",
        )
        _sql(
            store,
            sa.update(schema.artifacts)
            .where(schema.artifacts.c.id == gone.id)
            .values(state=ArtifactState.ABANDONED.value),
        )

        assert store.find_cached_execution("fp")[0] == old

    def test_executions_without_outputs_are_reusable(self, store):
        record = Runner(store).execute("validator", fingerprint="fp")
        assert store.find_cached_execution("fp") == (record, {})


class Embeddings(Artifact):
    TYPE_NAME = "TestEmbeddings"
    PROPERTIES = {"dimension": int, "scale": float, "labels": list}


class TestArtifacts:
    def test_reload_gives_the_registered_class_and_properties(self, store):
        p = Runner(store)
        examples = Examples(
            uri="/r/examples",
            properties={
                "split_names": ["train", "eval"],
                "row_counts": {"train": 80, "eval": 20},
                "span": 3,
            },
        )
        blessing = ModelBlessing(
            uri="/r/blessing", properties={"blessed": True, "reasons": ["auc > 0.7"]}
        )
        p.execute("gen", outputs={"examples": examples, "blessing": blessing})

        loaded = store.get_artifact(examples.id)
        assert type(loaded) is Examples
        assert loaded == examples
        assert loaded.split_uri("train") == "/r/examples/Split-train"
        assert loaded.row_counts == {"train": 80, "eval": 20}
        reloaded_blessing = store.get_artifact(blessing.id)
        assert type(reloaded_blessing) is ModelBlessing
        assert reloaded_blessing.blessed is True
        assert reloaded_blessing.reasons == ["auc > 0.7"]

    def test_reload_of_a_type_no_code_defines(self, store, monkeypatch):
        p = Runner(store)
        embeddings = Embeddings(
            uri="/r/emb", properties={"dimension": 64, "scale": 0.5, "labels": ["a"]}
        )
        p.execute("embed", outputs={"embeddings": embeddings})
        monkeypatch.delitem(registry._artifact_types, "TestEmbeddings")

        loaded = store.get_artifact(embeddings.id)

        assert type(loaded) is not Embeddings
        assert isinstance(loaded, Artifact)
        assert loaded.TYPE_NAME == "TestEmbeddings"
        assert loaded.PROPERTIES == {"dimension": int, "scale": float, "labels": list}
        assert loaded.to_dict() == embeddings.to_dict()
        assert loaded.dimension == 64

    def test_unknown_artifact(self, store):
        with pytest.raises(MetadataStoreError, match="No artifact with id 42 in "):
            store.get_artifact(42)
        with pytest.raises(MetadataStoreError, match="No artifact with id 42 in "):
            store.producer_of(42)
        with pytest.raises(MetadataStoreError, match="No artifact with id 42 in "):
            store.upstream(42)

    def test_get_artifacts_filters_newest_first(self, store):
        taxi, iris = Runner(store, "taxi"), Runner(store, "iris")
        e1, e2, e3 = _examples("/1"), _examples("/2"), _examples("/3")
        model = Model(uri="/m")
        taxi.execute("gen", outputs={"examples": e1})
        iris.execute("gen", outputs={"examples": e2})
        taxi.execute("gen", outputs={"examples": e3, "model": model})
        failed = taxi.start("gen")
        pending = _examples("/4")
        store.register_outputs(failed.id, {"examples": pending})

        assert store.get_artifacts() == [model, e3, e2, e1]
        assert store.get_artifacts(type_name="Examples") == [e3, e2, e1]
        assert store.get_artifacts(type_name="Examples", limit=2) == [e3, e2]
        assert store.get_artifacts(pipeline_name="taxi") == [model, e3, e1]
        assert store.get_artifacts(type_name="Examples", pipeline_name="iris") == [e2]
        assert store.get_artifacts(state=ArtifactState.PENDING) == [pending]
        assert store.get_artifacts(state=None, limit=1) == [pending]
        assert store.get_artifacts(type_name="Nothing") == []


class TestLineage:
    @pytest.fixture
    def chain(self, store):
        """gen → examples → schema_gen → schema; trainer(examples, schema) → model."""
        p = Runner(store)
        examples = _examples("/r/gen/examples/1")
        schema_ = Schema(uri="/r/schema_gen/schema/2")
        model = Model(uri="/r/trainer/model/3")
        gen = p.execute("gen", outputs={"examples": examples})
        schema_gen = p.execute(
            "schema_gen", {"examples": examples}, {"schema": schema_}
        )
        trainer = p.execute(
            "trainer", {"examples": examples, "schema": schema_}, {"model": model}
        )
        return p, examples, schema_, model, (gen, schema_gen, trainer)

    def test_upstream_of_a_model(self, store, chain):
        _, examples, schema_, model, (gen, schema_gen, trainer) = chain

        lineage = store.upstream(model.id)

        assert lineage.root == model
        assert lineage.artifacts == {a.id: a for a in (examples, schema_, model)}
        assert lineage.executions == {e.id: e for e in (gen, schema_gen, trainer)}
        assert sorted(lineage.edges) == sorted(
            [
                ("execution", trainer.id, "artifact", model.id, "model"),
                ("artifact", examples.id, "execution", trainer.id, "examples"),
                ("artifact", schema_.id, "execution", trainer.id, "schema"),
                ("execution", gen.id, "artifact", examples.id, "examples"),
                ("execution", schema_gen.id, "artifact", schema_.id, "schema"),
                ("artifact", examples.id, "execution", schema_gen.id, "examples"),
            ]
        )
        assert lineage.render() == "\n".join(
            [
                "Model #3 /r/trainer/model/3",
                f"└── ← trainer (execution {trainer.id}, Trainer, code 1a2b3c4d)",
                "    ├── examples: Examples #1 /r/gen/examples/1",
                f"    │   └── ← gen (execution {gen.id}, Gen, code 1a2b3c4d)",
                "    └── schema: Schema #2 /r/schema_gen/schema/2",
                f"        └── ← schema_gen (execution {schema_gen.id}, Schema_Gen, "
                "code 1a2b3c4d)",
                "            └── examples: Examples #1 /r/gen/examples/1  (shown above)",
            ]
        )

    def test_downstream_of_examples(self, store, chain):
        _, examples, schema_, model, (gen, schema_gen, trainer) = chain

        lineage = store.downstream(examples.id)

        assert lineage.artifacts == {a.id: a for a in (examples, schema_, model)}
        assert lineage.executions == {e.id: e for e in (schema_gen, trainer)}
        assert lineage.render() == "\n".join(
            [
                "Examples #1 /r/gen/examples/1",
                f"├── → schema_gen (execution {schema_gen.id}, Schema_Gen, code "
                "1a2b3c4d) as examples",
                "│   └── schema: Schema #2 /r/schema_gen/schema/2",
                f"│       └── → trainer (execution {trainer.id}, Trainer, code "
                "1a2b3c4d) as schema",
                "│           └── model: Model #3 /r/trainer/model/3",
                f"└── → trainer (execution {trainer.id}, Trainer, code 1a2b3c4d) as "
                "examples  (shown above)",
            ]
        )
        assert store.downstream(model.id).executions == {}

    def test_fan_out(self, store, chain):
        p, examples, schema_, model, (gen, schema_gen, trainer) = chain
        wide_model = Model(uri="/r/wide/model/4")
        wide = p.execute("wide", {"examples": examples}, {"model": wide_model})

        down = store.downstream(examples.id)
        up = store.upstream(wide_model.id)

        assert set(down.executions) == {schema_gen.id, trainer.id, wide.id}
        assert set(down.artifacts) == {examples.id, schema_.id, model.id, wide_model.id}
        assert set(up.executions) == {wide.id, gen.id}
        assert set(up.artifacts) == {wide_model.id, examples.id}

    def test_cached_executions_and_failures_in_lineage(self, store, chain):
        p, examples, _, model, (gen, schema_gen, trainer) = chain
        p.new_run()
        store.record_cached_execution(
            run_id=p.run_id,
            component_id="gen",
            component_type="Gen",
            parameters={},
            fingerprint=None,
            code_version=None,
            inputs={},
            outputs={"examples": examples},
            cached_from=gen.id,
        )
        broken = p.start("evaluator", {"model": model})
        store.register_outputs(broken.id, {"blessing": ModelBlessing(uri="/b")})
        store.fail_execution(broken.id, "boom")

        assert set(store.upstream(examples.id).executions) == {gen.id}
        down = store.downstream(model.id)
        assert set(down.executions) == {broken.id}
        assert "[ABANDONED]" in down.render() and "FAILED" in down.render()

    def test_to_dict_is_json(self, store, chain):
        _, _, _, model, (_, _, trainer) = chain

        data = json.loads(json.dumps(store.upstream(model.id).to_dict()))

        assert data["root"] == model.id and data["direction"] == "upstream"
        assert [a["id"] for a in data["artifacts"]] == [1, 2, 3]
        assert data["executions"][-1]["component_id"] == "trainer"
        assert data["executions"][-1]["state"] == "COMPLETE"
        assert {
            "from": {"kind": "execution", "id": trainer.id},
            "to": {"kind": "artifact", "id": model.id},
            "path": "model",
        } in data["edges"]


class TestLatestBlessedModel:
    def _evaluate(self, p: Runner, blessed: bool, uri: str) -> Model:
        model = Model(uri=f"/models/{uri}")
        p.execute("trainer", outputs={"model": model})
        baseline = Model(uri=f"/models/{uri}-baseline")
        p.execute("baseline", outputs={"model": baseline})
        blessing = ModelBlessing(
            uri=f"/blessings/{uri}", properties={"blessed": blessed}
        )
        p.execute(
            "evaluator",
            {"examples": self.examples, "model": model, "baseline_model": baseline},
            {"blessing": blessing},
        )
        return model

    @pytest.fixture(autouse=True)
    def _data(self, store):
        self.examples = _examples()
        Runner(store, "data").execute("gen", outputs={"examples": self.examples})

    def test_none_without_blessings(self, store):
        assert store.latest_blessed_model("taxi") is None
        self._evaluate(Runner(store), False, "unblessed")
        assert store.latest_blessed_model("taxi") is None

    def test_newest_blessed_wins_and_unblessed_are_ignored(self, store):
        taxi = Runner(store)
        self._evaluate(taxi, True, "old")
        newest_blessed = self._evaluate(taxi, True, "new")
        self._evaluate(taxi, False, "newer-but-unblessed")

        assert store.latest_blessed_model("taxi") == newest_blessed

    def test_other_pipelines_are_ignored(self, store):
        taxi = Runner(store)
        mine = self._evaluate(taxi, True, "taxi")
        self._evaluate(Runner(store, "iris"), True, "iris")

        assert store.latest_blessed_model("taxi") == mine
        assert store.latest_blessed_model("unknown") is None

    def test_the_input_named_model_is_the_blessed_one(self, store):
        taxi = Runner(store)
        baseline, model = Model(uri="/baseline"), Model(uri="/candidate")
        taxi.execute("trainer", outputs={"model": baseline, "candidate": model})
        blessing = ModelBlessing(uri="/blessing", properties={"blessed": True})
        taxi.execute(
            "evaluator", {"baseline_model": baseline, "model": model}, {"b": blessing}
        )

        assert store.latest_blessed_model("taxi") == model

    def test_abandoned_blessings_are_ignored(self, store):
        taxi = Runner(store)
        mine = self._evaluate(taxi, True, "good")
        model = Model(uri="/models/late")
        taxi.execute("trainer", outputs={"model": model})
        record = taxi.start("evaluator", {"model": model})
        store.register_outputs(
            record.id,
            {"blessing": ModelBlessing(uri="/b", properties={"blessed": True})},
        )
        store.fail_execution(record.id, "killed")

        assert store.latest_blessed_model("taxi") == mine


class TestReclaimDeadExecutions:
    def _set(
        self, store: MetadataStore, table: sa.Table, row_id: int, **values
    ) -> None:
        _sql(store, sa.update(table).where(table.c.id == row_id).values(**values))

    def test_dead_executions_fail_and_abandon_their_outputs(self, store):
        dead_pid = _dead_pid()
        p = Runner(store)
        live_run = Runner(store, "other")
        dead = p.start("trainer")
        model = Model(uri="/r/trainer/model")
        store.register_outputs(dead.id, {"model": model})
        live = live_run.start("trainer")
        store.register_outputs(live.id, {"model": Model(uri="/live")})
        elsewhere = p.start("evaluator")
        store.register_outputs(elsewhere.id, {"blessing": ModelBlessing(uri="/far")})
        self._set(store, schema.executions, dead.id, pid=dead_pid)
        self._set(store, schema.executions, elsewhere.id, pid=dead_pid, host="far-away")

        abandoned = store.reclaim_dead_executions()

        host = socket.gethostname()
        assert [a.id for a in abandoned] == [model.id]
        assert abandoned[0].state is ArtifactState.ABANDONED
        reclaimed = store.get_execution(dead.id)
        assert reclaimed.state is ExecutionState.FAILED
        assert reclaimed.error == (
            f"killed: process {dead_pid} on {host} ended without finishing"
        )
        assert store.get_artifact(model.id).state is ArtifactState.ABANDONED
        for untouched in (live, elsewhere):
            assert store.get_execution(untouched.id).state is ExecutionState.RUNNING
            (output,) = store.outputs_of(untouched.id).values()
            assert output.state is ArtifactState.PENDING
        assert store.reclaim_dead_executions() == []

    def test_runs_of_dead_processes_fail(self, store):
        dead_pid = _dead_pid()
        dead_run, empty_dead_run = Runner(store), Runner(store, "empty")
        live_run, mixed_run = Runner(store, "live"), Runner(store, "mixed")
        dead_run.execute("gen")
        crashed = dead_run.start("trainer")
        mixed_run.execute("gen")
        finished_elsewhere = mixed_run.execute("trainer")
        for p in (dead_run, empty_dead_run, mixed_run):
            _sql(
                store,
                sa.update(schema.contexts)
                .where(schema.contexts.c.name == p.run_id)
                .values(pid=dead_pid),
            )
        for p in (dead_run, mixed_run):
            for record in store.executions_of_run(p.run_id):
                self._set(store, schema.executions, record.id, pid=dead_pid)
        self._set(store, schema.executions, finished_elsewhere.id, host="far-away")

        store.reclaim_dead_executions()

        assert store.get_execution(crashed.id).state is ExecutionState.FAILED
        for p in (dead_run, empty_dead_run):
            run = store.get_run(p.run_id)
            assert run.state is RunState.FAILED and run.end_time is not None
        for p in (live_run, mixed_run):
            assert store.get_run(p.run_id).state is RunState.RUNNING


# ---------------------------------------------------------------- opening


class TestOpening:
    def test_a_plain_path_creates_folders_and_keeps_data(self, tmp_path):
        path = tmp_path / "a" / "b" / "metadata.sqlite"
        with MetadataStore(str(path)) as store:
            store.start_run("taxi", run_id="r1")
            assert store.url == f"sqlite:///{path}"

        with MetadataStore(f"sqlite:///{path}") as again:
            assert again.get_run("r1").pipeline_name == "taxi"
        assert path.is_file()

    def test_sqlite_file_runs_in_wal_mode(self, tmp_path):
        path = tmp_path / "metadata.sqlite"
        with MetadataStore(path):
            with sqlite3.connect(path) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_in_memory_stores_are_separate(self):
        with MetadataStore.in_memory() as one, MetadataStore.in_memory() as two:
            one.start_run("taxi")
            assert two.list_runs() == []
            assert one.url == "sqlite://"

    def test_default_url(self, tmp_path, monkeypatch):
        monkeypatch.delenv("MLPIPE_STORE", raising=False)
        monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "home"))
        assert default_store_url() == f"sqlite:///{tmp_path}/home/metadata.sqlite"
        assert (tmp_path / "home").is_dir()

        monkeypatch.setenv("MLPIPE_STORE", "postgresql://u@db/mlpipe")
        assert default_store_url() == "postgresql://u@db/mlpipe"

        monkeypatch.setenv("MLPIPE_STORE", str(tmp_path / "env.sqlite"))
        with MetadataStore() as store:
            assert store.url == f"sqlite:///{tmp_path}/env.sqlite"

    def test_default_url_with_an_unusable_home(self, tmp_path, monkeypatch):
        (tmp_path / "file").write_text("x")
        monkeypatch.delenv("MLPIPE_STORE", raising=False)
        monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "file" / "home"))
        with pytest.raises(MetadataStoreError, match="Set MLPIPE_HOME to a writable"):
            default_store_url()

    def test_unknown_dialect(self):
        with pytest.raises(
            MetadataStoreError,
            match=re.escape(
                "Cannot open the metadata store nosuchdialect://x: unknown database "
                "kind 'nosuchdialect'. Use a SQLAlchemy URL such as sqlite:///"
            ),
        ):
            MetadataStore("nosuchdialect://x")

    def test_folder_that_cannot_be_created(self, tmp_path):
        (tmp_path / "file").write_text("not a folder")
        with pytest.raises(
            MetadataStoreError,
            match=re.escape(
                f"{tmp_path}/file is a file, not a folder. Choose a writable"
            ),
        ):
            MetadataStore(tmp_path / "file" / "sub" / "metadata.sqlite")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]

    def test_a_file_that_is_not_a_database(self, tmp_path):
        path = tmp_path / "notes.sqlite"
        path.write_text("these are my notes, not a database\n" * 20)
        with pytest.raises(
            MetadataStoreError,
            match=re.escape(f"{path} exists but is not a SQLite database"),
        ):
            MetadataStore(path)
        assert path.read_text().startswith("these are my notes")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]

    def test_a_folder_as_the_database(self, tmp_path):
        with pytest.raises(MetadataStoreError, match="SQLite cannot open or create"):
            MetadataStore(tmp_path)

    def test_missing_driver_masks_the_password(self):
        # psycopg is a dev dependency; a PostgreSQL driver nobody installs stands in.
        if importlib.util.find_spec("psycopg2cffi"):
            pytest.skip("psycopg2cffi is installed")
        with pytest.raises(MetadataStoreError) as caught:
            MetadataStore("postgresql+psycopg2cffi://me:s3cret@db.example.com/mlpipe")
        message = str(caught.value)
        assert "s3cret" not in message
        assert "postgresql+psycopg2cffi://me:***@db.example.com/mlpipe" in message
        assert "driver is not installed" in message and "mlpipe[postgres]" in message

    def test_not_a_url(self):
        with pytest.raises(MetadataStoreError, match="The metadata store URL is empty"):
            MetadataStore("")

    def test_failure_after_creating_folders_removes_them(self, tmp_path, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("no engine today")

        monkeypatch.setattr(store_module, "_create_engine", broken)
        with pytest.raises(MetadataStoreError, match="RuntimeError: no engine today"):
            MetadataStore(tmp_path / "new" / "deeper" / "metadata.sqlite")
        assert list(tmp_path.iterdir()) == []

    def test_closed_store(self):
        store = MetadataStore.in_memory()
        store.close()
        with pytest.raises(MetadataStoreError, match="is closed; open a new"):
            store.list_runs()


class TestPostgresql:
    def test_url_password_is_masked_and_data_is_kept(self, postgres_url):
        url = sa.make_url(postgres_url).set(password="s3cret")
        # The test server trusts every local connection, so any password does.
        raw = url.render_as_string(hide_password=False)
        with MetadataStore(raw) as store:
            store.start_run("taxi", run_id="r1")
            assert store.url == url.render_as_string(hide_password=True)
            assert "s3cret" not in store.url
            # What another process (a Beam stage) opens the store with.
            assert store.connection_url() == raw
        with MetadataStore(raw) as again:
            assert again.get_run("r1").pipeline_name == "taxi"

    def test_a_server_that_is_not_there(self, postgres_url):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        url = sa.make_url(postgres_url).set(port=closed_port, password="s3cret")
        with pytest.raises(MetadataStoreError) as caught:
            MetadataStore(url.render_as_string(hide_password=False))
        message = str(caught.value)
        assert message.startswith(
            f"Cannot open the metadata store {url.render_as_string()}: "
        )
        assert "s3cret" not in message
        assert message.endswith(
            "Check that the database server is running and reachable, and the user "
            "name, password and database name in the URL."
        )

    def test_tables_are_created_once_by_racing_openers(self, postgres_url):
        opened: list[MetadataStore] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def open_store() -> None:
            try:
                barrier.wait(timeout=30)
                opened.append(MetadataStore(postgres_url))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert errors == []
            assert len(opened) == 4
            assert _versions(postgres_url) == [schema.SCHEMA_VERSION]
        finally:
            for store in opened:
                store.close()


def _versions(url: str) -> list[int]:
    """The schema versions a store recorded, oldest first."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.select(schema.schema_version.c.version).order_by(
                        schema.schema_version.c.version
                    )
                )
            )
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return [column["name"] for column in sa.inspect(engine).get_columns(table)]
    finally:
        engine.dispose()


def _add_note(conn: sa.Connection) -> None:
    """A synthetic step 1 → 2: a new column, filled in for the rows already there."""
    conn.execute(sa.text("ALTER TABLE contexts ADD COLUMN note TEXT"))
    conn.execute(sa.text("UPDATE contexts SET note = 'from v1'"))


def _index_note(conn: sa.Connection) -> None:
    """A synthetic step 2 → 3, which needs step 1 → 2 to have run."""
    conn.execute(sa.text("CREATE INDEX ix_contexts_note ON contexts (note)"))


class TestSchemaVersions:
    """Schema versions and upgrades, on the backends a store outlives a process on.

    Today's schema is the first, so the upgrades run synthetic steps: a store is
    written by this mlpipe, then opened as if by one whose SCHEMA_VERSION is higher.
    """

    @pytest.fixture
    def old_store(self, durable_url: str) -> str:
        """A store written at today's version, with one run in it."""
        with MetadataStore(durable_url) as store:
            store.start_run("taxi", run_id="r1")
        return durable_url

    def _become(self, monkeypatch, version: int, steps: dict) -> None:
        monkeypatch.setattr(schema, "SCHEMA_VERSION", version)
        monkeypatch.setattr(migrations, "MIGRATIONS", steps)

    def test_a_new_store_records_the_current_version(self, durable_url):
        with MetadataStore(durable_url):
            pass
        assert _versions(durable_url) == [schema.SCHEMA_VERSION]
        with MetadataStore(durable_url):
            pass
        assert _versions(durable_url) == [schema.SCHEMA_VERSION]

    def test_an_older_store_is_upgraded_on_open(self, old_store, monkeypatch, caplog):
        first = schema.SCHEMA_VERSION
        self._become(monkeypatch, first + 2, {first: _add_note, first + 1: _index_note})

        with MetadataStore(old_store) as store:
            assert store.get_run("r1").pipeline_name == "taxi"
            store.start_run("taxi", run_id="r2")

        assert _versions(old_store) == [first, first + 1, first + 2]
        assert "note" in _columns(old_store, "contexts")
        engine = sa.create_engine(old_store)
        with engine.connect() as conn:
            notes = dict(conn.execute(sa.text("SELECT name, note FROM contexts")).all())
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("contexts")}
        engine.dispose()
        assert notes == {"taxi": "from v1", "r1": "from v1", "r2": None}
        assert "ix_contexts_note" in indexes
        assert (
            f"Upgraded the metadata store {sa.make_url(old_store).render_as_string()} "
            f"from schema version {first} to {first + 2}"
        ) in caplog.text

        caplog.clear()
        with MetadataStore(old_store) as again:
            assert [r.run_id for r in again.list_runs()] == ["r2", "r1"]
        assert _versions(old_store) == [first, first + 1, first + 2]
        assert "Upgraded" not in caplog.text

    def test_a_failed_upgrade_changes_nothing(self, old_store, monkeypatch):
        first = schema.SCHEMA_VERSION

        def broken(conn: sa.Connection) -> None:
            conn.execute(sa.text("CREATE TABLE half_done (id INTEGER)"))
            conn.execute(sa.text("SELECT no_such_column FROM contexts"))

        self._become(monkeypatch, first + 2, {first: _add_note, first + 1: broken})
        with pytest.raises(
            MetadataStoreError,
            # (?s): PostgreSQL's reason spans lines (the statement and a caret).
            match="(?s)"
            + re.escape(
                f"from schema version {first} to {first + 2}: OperationalError"
                if old_store.startswith("sqlite")
                else f"from schema version {first} to {first + 2}: UndefinedColumn"
            )
            + ".*"
            + re.escape(
                f"Nothing was changed: the store is still at version {first}, and "
                f"the mlpipe that wrote it can still use it."
            ),
        ):
            MetadataStore(old_store)

        assert _versions(old_store) == [first]
        assert "note" not in _columns(old_store, "contexts")
        engine = sa.create_engine(old_store)
        assert not sa.inspect(engine).has_table("half_done")
        engine.dispose()
        monkeypatch.undo()
        with MetadataStore(old_store) as store:
            assert store.get_run("r1").pipeline_name == "taxi"

    def test_a_missing_step_is_named(self, old_store, monkeypatch):
        first = schema.SCHEMA_VERSION
        self._become(monkeypatch, first + 2, {first: _add_note})
        with pytest.raises(
            MetadataStoreError,
            match=re.escape(
                f"from schema version {first} to {first + 2}: No upgrade from schema "
                f"version {first + 1} to {first + 2}: this mlpipe knows steps from "
                f"versions [{first}]"
            ),
        ):
            MetadataStore(old_store)
        assert _versions(old_store) == [first]
        assert "note" not in _columns(old_store, "contexts")

    def test_racing_openers_upgrade_once(self, old_store, monkeypatch):
        first = schema.SCHEMA_VERSION
        ran: list[int] = []

        def slow_note(conn: sa.Connection) -> None:
            ran.append(threading.get_ident())
            time.sleep(0.3)  # long enough for the other openers to be waiting
            _add_note(conn)

        self._become(monkeypatch, first + 1, {first: slow_note})
        opened: list[MetadataStore] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)

        def open_store() -> None:
            try:
                barrier.wait(timeout=30)
                opened.append(MetadataStore(old_store))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in opened:
            store.close()

        assert errors == []
        assert len(ran) == 1
        assert _versions(old_store) == [first, first + 1]

    def test_a_newer_store_asks_to_upgrade_mlpipe(self, old_store):
        newer = schema.SCHEMA_VERSION + 1
        engine = sa.create_engine(old_store)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema.schema_version).values(version=newer, written_at=0)
            )
        engine.dispose()

        with pytest.raises(
            MetadataStoreError,
            match=re.escape(
                f"has schema version {newer}, newer than this mlpipe knows "
                f"({schema.SCHEMA_VERSION})"
            )
            + ".*Upgrade mlpipe",
        ):
            MetadataStore(old_store)
        assert _versions(old_store) == [schema.SCHEMA_VERSION, newer]


class TestBusyDatabase:
    def test_a_writer_waits_for_another_process_lock(self, tmp_path, monkeypatch):
        # A zero busy timeout makes every wait fail at once: the retry loop must cope.
        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0)
        path = tmp_path / "metadata.sqlite"
        store = MetadataStore(path)
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.3, holder.execute, args=("COMMIT",))
        timer.start()
        try:
            assert store.start_run("taxi", run_id="r1").run_id == "r1"
        finally:
            timer.join()
            holder.close()
            store.close()
