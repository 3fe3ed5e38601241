"""Tests for pipeline/runners/local.py: real files through artifacts, caching, failures."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pipeline import (
    Artifact,
    ArtifactState,
    ArtifactStorageError,
    ExecutionContext,
    Input,
    InputPath,
    LocalRunner,
    MetadataStore,
    MetadataStoreError,
    ModuleFile,
    Output,
    Parameter,
    Pipeline,
    PipelineRunError,
    component,
)
from pipeline.metadata import ExecutionState, RunState

REPO = pathlib.Path(__file__).resolve().parents[2]
CALLS: list[str] = []


def _read(artifact: Artifact) -> int:
    return int(pathlib.Path(artifact.uri, "value.txt").read_text())


def _write(artifact: Artifact, value: int) -> None:
    pathlib.Path(artifact.uri, "value.txt").write_text(str(value))


@component
def write_number(number: Output[Artifact], value: Parameter[int] = 7):
    CALLS.append("write_number")
    _write(number, value)


@component
def double_number(number: Input[Artifact], doubled: Output[Artifact]):
    CALLS.append("double_number")
    _write(doubled, 2 * _read(number))
    return {"doubled": 2 * _read(number)}


@component
def fail_loudly(number: Input[Artifact], out: Output[Artifact]):
    _write(out, 1)  # a partial output that must not survive the failure
    raise ValueError(f"cannot use {_read(number)}")


def _chain(tmp_path, store_url, value=7, **kwargs):
    first = write_number(value=value)
    second = double_number(number=first.outputs["number"])
    return Pipeline(
        "chain", [first, second], root=str(tmp_path / "root"), store=store_url, **kwargs
    )


@pytest.fixture(autouse=True)
def clear_calls():
    CALLS.clear()


class TestRun:
    def test_files_flow_through_artifacts_and_are_recorded(self, tmp_path, store_url):
        result = _chain(tmp_path, store_url).run()
        doubled = result.artifact("double_number", "doubled")
        assert _read(doubled) == 14
        root = tmp_path / "root"
        execution = result.executions["double_number"]
        assert doubled.uri == str(
            root / "double_number" / "doubled" / str(execution.id)
        )
        with MetadataStore(store_url) as store:
            assert store.get_run(result.run_id).state == RunState.COMPLETE
            stored = store.get_artifact(doubled.id)
            assert stored.state == ArtifactState.LIVE
            assert store.get_execution(execution.id).result == {"doubled": 14}
            read = store.inputs_of(execution.id)["number"]
            assert read.id == result.artifact("write_number", "number").id

    def test_context_carries_run_facts_and_beam_args(self, tmp_path, store_url):
        seen = {}

        @component
        def look(out: Output[Artifact], context: ExecutionContext):
            seen.update(
                run_id=context.run_id,
                execution_id=context.execution_id,
                args=context.beam_pipeline_args,
            )

        node = look().with_beam_args(["--direct_num_workers=2"])
        pipe = Pipeline(
            "ctx",
            [node],
            root=str(tmp_path),
            store=store_url,
            beam_pipeline_args=["--runner=DirectRunner"],
        )
        result = LocalRunner(
            beam_pipeline_args=["--direct_running_mode=in_memory"]
        ).run(pipe)
        assert seen["run_id"] == result.run_id
        assert seen["execution_id"] == result.executions["look"].id
        assert seen["args"] == [
            "--runner=DirectRunner",
            "--direct_running_mode=in_memory",
            "--direct_num_workers=2",
        ]

    def test_independent_branches_run_in_parallel(self, tmp_path, store_url):
        barrier = threading.Barrier(2, timeout=20)

        @component
        def wait_for_the_other(out: Output[Artifact]):
            barrier.wait()  # breaks (and fails the run) unless both branches run at once

        a = wait_for_the_other().with_id("a")
        b = wait_for_the_other().with_id("b")
        pipe = Pipeline("parallel", [a, b], root=str(tmp_path), store=store_url)
        result = pipe.run(parallelism=2)
        assert {e.state for e in result.executions.values()} == {
            ExecutionState.COMPLETE
        }

    def test_returning_a_non_dict_fails_with_the_reason(self, tmp_path, store_url):
        @component
        def returns_list(out: Output[Artifact]):
            return [1, 2]

        with pytest.raises(
            PipelineRunError, match="returned list; a component returns None"
        ):
            Pipeline(
                "bad_result", [returns_list()], root=str(tmp_path), store=store_url
            ).run()


class TestCache:
    def test_second_run_reuses_every_output(self, tmp_path, store_url):
        first = _chain(tmp_path, store_url).run()
        CALLS.clear()
        second = _chain(tmp_path, store_url).run()
        assert CALLS == []
        for component_id in ("write_number", "double_number"):
            execution = second.executions[component_id]
            assert execution.state == ExecutionState.CACHED
            assert execution.cached_from == first.executions[component_id].id
        assert (
            second.artifact("double_number", "doubled").id
            == first.artifact("double_number", "doubled").id
        )

    def test_parameter_change_misses_and_reruns_dependents(self, tmp_path, store_url):
        _chain(tmp_path, store_url).run()
        CALLS.clear()
        result = _chain(tmp_path, store_url, value=8).run()
        assert CALLS == ["write_number", "double_number"]
        assert _read(result.artifact("double_number", "doubled")) == 16

    def test_module_file_edit_misses(self, tmp_path, store_url):
        module = tmp_path / "user_module.py"
        module.write_text("FACTOR = 3\n")

        @component
        def scale(out: Output[Artifact], module_file: Parameter[ModuleFile]):
            namespace: dict = {}
            exec(pathlib.Path(module_file).read_text(), namespace)
            CALLS.append("scale")
            _write(out, namespace["FACTOR"])

        def run():
            node = scale(module_file=str(module))
            return Pipeline(
                "mod", [node], root=str(tmp_path / "r"), store=store_url
            ).run()

        run()
        run()
        assert CALLS == ["scale"]
        module.write_text("FACTOR = 5\n")
        result = run()
        assert CALLS == ["scale", "scale"]
        assert _read(result.artifact("scale", "out")) == 5

    def test_changed_input_files_miss(self, tmp_path, store_url):
        data = tmp_path / "data"
        data.mkdir()
        (data / "part-1.csv").write_text("x\n1\n")

        @component
        def count_files(out: Output[Artifact], input_base: Parameter[InputPath]):
            CALLS.append("count_files")
            _write(out, len(list(pathlib.Path(input_base).iterdir())))

        def run():
            node = count_files(input_base=str(data))
            return Pipeline(
                "files", [node], root=str(tmp_path / "r"), store=store_url
            ).run()

        run()
        run()
        assert CALLS == ["count_files"]
        (data / "part-2.csv").write_text("x\n2\n")
        assert _read(run().artifact("count_files", "out")) == 2
        assert CALLS == ["count_files", "count_files"]

    def test_cache_off_for_the_pipeline_the_component_or_the_run(
        self, tmp_path, store_url
    ):
        _chain(tmp_path, store_url).run()
        CALLS.clear()
        _chain(tmp_path, store_url, enable_cache=False).run()
        assert CALLS == ["write_number", "double_number"]
        CALLS.clear()
        LocalRunner(enable_cache=False).run(_chain(tmp_path, store_url))
        assert CALLS == ["write_number", "double_number"]
        CALLS.clear()
        first = write_number()
        second = double_number(number=first.outputs["number"]).with_cache(False)
        Pipeline(
            "chain", [first, second], root=str(tmp_path / "root"), store=store_url
        ).run()
        assert CALLS == ["double_number"]

    def test_deleted_output_files_are_not_reused(self, tmp_path, store_url):
        first = _chain(tmp_path, store_url).run()
        import shutil

        shutil.rmtree(first.artifact("double_number", "doubled").uri)
        CALLS.clear()
        _chain(tmp_path, store_url).run()
        assert CALLS == ["double_number"]


class TestFailure:
    def _run_failing(self, tmp_path, store_url):
        source = write_number()
        broken = fail_loudly(number=source.outputs["number"])
        after_broken = double_number(number=broken.outputs["out"])
        independent = double_number(number=source.outputs["number"]).with_id(
            "independent"
        )
        pipe = Pipeline(
            "failing",
            [source, broken, after_broken, independent],
            root=str(tmp_path / "root"),
            store=store_url,
        )
        with pytest.raises(PipelineRunError) as caught:
            pipe.run()
        return caught.value

    def test_error_names_the_component_and_keeps_the_original(
        self, tmp_path, store_url
    ):
        error = self._run_failing(tmp_path, store_url)
        assert list(error.failures) == ["fail_loudly"]
        assert error.skipped == ["double_number"]
        assert "Component 'fail_loudly' (execution" in str(error)
        assert "ValueError: cannot use 7" in str(error)
        assert isinstance(error.__cause__, ValueError)
        frames = [
            frame.name
            for frame in __import__("traceback").extract_tb(
                error.__cause__.__traceback__
            )
        ]
        assert "fail_loudly" in frames

    def test_nothing_of_the_failed_component_is_live_or_on_disk(
        self, tmp_path, store_url
    ):
        error = self._run_failing(tmp_path, store_url)
        with MetadataStore(store_url) as store:
            executions = {
                e.component_id: e for e in store.executions_of_run(error.run_id)
            }
            failed = executions["fail_loudly"]
            assert failed.state == ExecutionState.FAILED
            assert "ValueError: cannot use 7" in failed.error
            assert (
                'raise ValueError(f"cannot use' in failed.error
            )  # the traceback is kept
            for artifact in store.outputs_of(failed.id).values():
                assert artifact.state == ArtifactState.ABANDONED
                assert not os.path.exists(artifact.uri)
            assert executions["double_number"].state == ExecutionState.SKIPPED
            assert "fail_loudly" in executions["double_number"].error
            assert executions["independent"].state == ExecutionState.COMPLETE
            assert store.get_run(error.run_id).state == RunState.FAILED
            live = store.get_artifacts(pipeline_name="failing")
            assert {store.producer_of(a.id).component_id for a in live} == {
                "write_number",
                "independent",
            }

    def test_failed_execution_is_never_a_cache_hit(self, tmp_path, store_url):
        first = self._run_failing(tmp_path, store_url)
        second = self._run_failing(tmp_path, store_url)  # raises again: not reused
        assert (
            second.failures["fail_loudly"].execution_id
            != first.failures["fail_loudly"].execution_id
        )

    def test_killed_run_leaves_nothing_live_and_is_reclaimed(self, tmp_path, store_url):
        marker = tmp_path / "started"
        pipeline_file = tmp_path / "hang.py"
        pipeline_file.write_text(
            textwrap.dedent(
                f"""
                import pathlib, time
                from pipeline import Artifact, Output, Pipeline, component

                @component
                def hang(out: Output[Artifact]):
                    pathlib.Path(out.uri, "partial.bin").write_bytes(b"x" * 1000)
                    pathlib.Path({str(marker)!r}).write_text(out.uri)
                    time.sleep(600)

                pipeline = Pipeline("hang", [hang()], root={str(tmp_path / "root")!r},
                                    store={store_url!r})
                """
            )
        )
        child = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run", str(pipeline_file)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert child.poll() is None, "the pipeline process ended early"
                assert time.monotonic() < deadline, "the component never started"
                time.sleep(0.1)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        partial_uri = marker.read_text()
        with MetadataStore(store_url) as store:
            (run,) = store.list_runs(pipeline_name="hang")
            (execution,) = store.executions_of_run(run.run_id)
            assert execution.state == ExecutionState.RUNNING
            assert store.get_artifacts(pipeline_name="hang") == []  # nothing LIVE
        assert os.path.exists(partial_uri)

        _chain(tmp_path, store_url).run()  # any next run reclaims the dead execution

        with MetadataStore(store_url) as store:
            execution = store.get_execution(execution.id)
            assert execution.state == ExecutionState.FAILED
            assert "killed" in execution.error
            (artifact,) = store.outputs_of(execution.id).values()
            assert artifact.state == ArtifactState.ABANDONED
            assert execution.end_time is None  # when it died is unknown
            killed_run = store.get_run(run.run_id)
            assert killed_run.state == RunState.FAILED
            assert killed_run.end_time == execution.start_time  # its last sign of life
        assert not os.path.exists(partial_uri)


class TestBadSetup:
    def test_unwritable_root_fails_before_anything_runs(self, tmp_path, store_url):
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        pipe = Pipeline(
            "p", [write_number()], root=str(blocker / "root"), store=store_url
        )
        with pytest.raises(
            ArtifactStorageError,
            match=re.escape(
                f"The pipeline root {str(blocker / 'root')!r} is not writable"
            ),
        ):
            pipe.run()
        assert CALLS == []

    def test_store_that_cannot_be_opened(self, tmp_path):
        pipe = Pipeline(
            "p", [write_number()], root=str(tmp_path / "r"), store="nosuchdb://x"
        )
        with pytest.raises(MetadataStoreError, match="nosuchdb"):
            pipe.run()
        assert CALLS == []

    def test_output_folder_with_unknown_files_is_not_overwritten(self, tmp_path):
        root = tmp_path / "root"
        first = _chain(tmp_path, f"sqlite:///{tmp_path / 'one.sqlite'}").run()
        kept = pathlib.Path(first.artifact("write_number", "number").uri, "value.txt")
        with pytest.raises(
            PipelineRunError, match="already holds files that this metadata store"
        ):
            _chain(tmp_path, f"sqlite:///{tmp_path / 'two.sqlite'}").run()
        assert kept.read_text() == "7"
        assert root.exists()


def test_runs_of_one_pipeline_share_one_sqlite_store_at_once(tmp_path, store_url):
    pipeline_file = tmp_path / "many.py"
    pipeline_file.write_text(
        textwrap.dedent(
            f"""
            import os
            from pipeline import Artifact, Output, Pipeline, component

            @component
            def step(out: Output[Artifact], n: int = 0):
                open(os.path.join(out.uri, "n"), "w").write(str(n))

            def create_pipeline():
                steps = [step(n=i).with_id(f"step{{i}}") for i in range(8)]
                for before, after in zip(steps, steps[1:]):
                    after.after(before)
                return Pipeline("many", steps, root=os.environ["ROOT"], store={store_url!r})
            """
        )
    )
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "run",
                "--no-cache",
                str(pipeline_file),
            ],
            cwd=REPO,
            env={**os.environ, "ROOT": str(tmp_path / "root")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert not any("database is locked" in out for out in outputs)
    with MetadataStore(store_url) as store:
        runs = store.list_runs(pipeline_name="many")
        assert [r.state for r in runs] == [RunState.COMPLETE] * 3
        for run in runs:
            executions = store.executions_of_run(run.run_id)
            assert len(executions) == 8
            assert {e.state for e in executions} <= {
                ExecutionState.COMPLETE,
                ExecutionState.CACHED,
            }
        live = store.get_artifacts(pipeline_name="many")
        assert all(os.path.exists(os.path.join(a.uri, "n")) for a in live)


def test_a_url_root_keeps_artifacts_behind_tf_io_gfile(store_url):
    # ram:// is TensorFlow's in-memory file system: the code path a gs:// root takes.
    from pipeline import fs

    @component
    def write_remote(out: Output[Artifact], text: str = "hi"):
        fs.write_text(fs.join(out.uri, "note.txt"), text)

    def run():
        node = write_remote()
        return Pipeline(
            "remote", [node], root="ram://mlpipe-runner/root", store=store_url
        ).run()

    first = run()
    artifact = first.artifact("write_remote", "out")
    execution_id = first.executions["write_remote"].id
    assert artifact.uri == f"ram://mlpipe-runner/root/write_remote/out/{execution_id}"
    assert fs.read_text(fs.join(artifact.uri, "note.txt")) == "hi"
    assert run().executions["write_remote"].state == ExecutionState.CACHED


def test_interrupt_in_parallel_mode_abandons_what_is_still_running(tmp_path, store_url):
    release = threading.Event()
    started = threading.Event()

    @component
    def slow_branch(out: Output[Artifact]):
        started.set()
        release.wait(timeout=60)
        _write(out, 1)

    @component
    def interrupting_branch(out: Output[Artifact]):
        started.wait(timeout=60)
        raise KeyboardInterrupt

    pipe = Pipeline(
        "interrupted",
        [slow_branch(), interrupting_branch()],
        root=str(tmp_path / "root"),
        store=store_url,
    )
    with pytest.raises(KeyboardInterrupt):
        pipe.run(parallelism=2)
    with MetadataStore(store_url) as store:
        (run,) = store.list_runs(pipeline_name="interrupted")
        slow = next(
            e
            for e in store.executions_of_run(run.run_id)
            if e.component_id == "slow_branch"
        )
        assert slow.state == ExecutionState.FAILED
        assert "interrupted: KeyboardInterrupt" in slow.error
        release.set()  # the thread finishes now; its outputs must stay abandoned
        deadline = time.monotonic() + 30
        while threading.active_count() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        (artifact,) = store.outputs_of(slow.id).values()
        assert store.get_artifact(artifact.id).state == ArtifactState.ABANDONED
        assert store.get_run(run.run_id).state == RunState.FAILED
        assert store.get_artifacts(pipeline_name="interrupted") == []


def test_failure_before_the_execution_begins_is_recorded(tmp_path, store_url):
    @component
    def needs_module(out: Output[Artifact], module_file: Parameter[ModuleFile]):
        pass

    node = needs_module(module_file=str(tmp_path / "missing_module.py"))
    pipe = Pipeline("early", [node], root=str(tmp_path / "root"), store=store_url)
    with pytest.raises(
        PipelineRunError, match="missing_module.py' cannot be read"
    ) as caught:
        pipe.run()
    assert "failed: Component 'needs_module'" not in str(caught.value)  # said once
    with MetadataStore(store_url) as store:
        (execution,) = store.executions_of_run(caught.value.run_id)
        assert execution.state == ExecutionState.FAILED
        assert "cannot be read" in execution.error


def test_stored_error_starts_at_the_users_code(tmp_path, store_url):
    source = write_number()
    broken = fail_loudly(number=source.outputs["number"])
    pipe = Pipeline(
        "trimmed", [source, broken], root=str(tmp_path / "r"), store=store_url
    )
    with pytest.raises(PipelineRunError) as caught:
        pipe.run()
    with MetadataStore(store_url) as store:
        error = store.get_execution(
            caught.value.failures["fail_loudly"].execution_id
        ).error
    assert error.startswith("Traceback (most recent call last):")
    assert "pipeline/runners/local.py" not in error
    assert "ExecutionError" not in error
    assert "in fail_loudly" in error and error.rstrip().endswith(
        "ValueError: cannot use 7"
    )


def test_relative_root_is_made_absolute(tmp_path, store_url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipe = _chain(tmp_path, store_url)
    pipe_relative = Pipeline("rel", [write_number()], root="runs/rel", store=store_url)
    assert pipe_relative.root == str(tmp_path / "runs" / "rel")
    assert os.path.isabs(pipe.root)


def test_parallelism_must_be_positive():
    from pipeline import DefinitionError

    with pytest.raises(DefinitionError, match="parallelism must be a whole number"):
        LocalRunner(parallelism=0)


def test_optional_input_path_keeps_its_marker(tmp_path, store_url):
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")

    @component
    def maybe_read(out: Output[Artifact], source: Parameter[InputPath | None] = None):
        CALLS.append("maybe_read")

    assert maybe_read.spec.parameters["source"].input_path

    def run(source):
        node = maybe_read(source=source)
        return Pipeline(
            "maybe", [node], root=str(tmp_path / "r"), store=store_url
        ).run()

    run(None)
    run(str(data))
    run(str(data))
    assert CALLS == ["maybe_read", "maybe_read"]
    data.write_text("x\n1\n2\n")
    run(str(data))
    assert CALLS == ["maybe_read"] * 3


def test_a_script_without_logging_shows_each_progress_line_once(tmp_path):
    # Beam's Pipeline() calls logging.basicConfig() inside a component; the lines
    # after it must not print twice (once by mlpipe's handler, once by root's).
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import logging
            from pipeline import Artifact, Output, Pipeline, component

            @component
            def configures_logging(out: Output[Artifact]):
                logging.basicConfig()

            @component
            def after(out: Output[Artifact]):
                pass

            first = configures_logging()
            second = after().after(first)
            Pipeline("logs", [first, second], root={str(tmp_path / "root")!r}).run()
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    for message in ("configures_logging: started", "after: started", "after: COMPLETE"):
        assert sum(message in line for line in lines) == 1, done.stderr
