"""Tests for pipeline/runners/beam.py: the DAG as one Beam pipeline records what
LocalRunner records."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

from pipeline import (
    Artifact,
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    LocalRunner,
    MetadataStore,
    ModelRun,
    Output,
    Parameter,
    Pipeline,
    PipelineRunError,
    component,
)
from pipeline.cli import main
from pipeline.metadata import ExecutionState, RunState
from pipeline.runners.beam import BeamDagRunner
from tests.pipeline.test_resolve_and_resume import judge, train

REPO = pathlib.Path(__file__).resolve().parents[2]
PENGUINS = REPO.parent / "shared" / "data" / "penguins" / "penguins_processed.csv"


def _read(artifact: Artifact) -> int:
    return int(pathlib.Path(artifact.uri, "value.txt").read_text())


def _write(artifact: Artifact, value: int) -> None:
    pathlib.Path(artifact.uri, "value.txt").write_text(str(value))


@component
def write_number(number: Output[Artifact], value: Parameter[int] = 7):
    _write(number, value)


@component
def double_number(number: Input[Artifact], doubled: Output[Artifact]):
    _write(doubled, 2 * _read(number))
    return {"doubled": 2 * _read(number)}


@component
def add_numbers(left: Input[Artifact], right: Input[Artifact], rows: Output[Examples]):
    total = _read(left) + _read(right)
    _write(rows, total)
    rows.split_names = ["train"]
    rows.row_counts = {"train": total}
    return {"total": total}


@component
def note_done(note: Output[Artifact], context: ExecutionContext):
    pathlib.Path(note.uri, "args.txt").write_text(" ".join(context.beam_pipeline_args))


@component
def fail_loudly(number: Input[Artifact], out: Output[Artifact]):
    _write(out, 1)  # a partial output that must not survive the failure
    raise ValueError(f"cannot use {_read(number)}")


@component
def count_to(
    progress: Output[ModelRun], started: str, allow: str, until: Parameter[int] = 6
):
    """Counts in a resumable output; waits at step 3 until the file ``allow`` exists."""
    step_file = pathlib.Path(progress.uri, "step")
    start = int(step_file.read_text()) if step_file.exists() else 0
    for step in range(start + 1, until + 1):
        step_file.write_text(str(step))
        if step == 3 and not os.path.exists(allow):
            pathlib.Path(started).write_text(progress.uri)
            time.sleep(600)
    return {"resumed_from": start}


def _pipeline_file(folder: pathlib.Path, expression: str) -> str:
    """A pipeline file for ``mlpipe run`` whose pipeline is ``expression``, evaluated
    with this module's names."""
    path = folder / "pipeline_file.py"
    path.write_text(
        "from pipeline import Pipeline\n"
        "from tests.pipeline.test_beam_dag_runner import _diamond, count_to\n\n"
        f"pipeline = {expression}\n"
    )
    return str(path)


def _started(command: list[str], started: pathlib.Path) -> subprocess.Popen:
    """Starts ``command`` and returns once the file ``started`` exists."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    child = subprocess.Popen(command, cwd=REPO, **quiet)
    deadline = time.monotonic() + 120
    while not started.exists() and child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            break
        time.sleep(0.1)
    assert started.exists(), "the stage never reached its waiting point"
    return child


def _diamond(root, store_url, *, three=3, **kwargs) -> Pipeline:
    """Two sources, a transform of one, their sum, and a note ordered after the sum."""
    small = write_number(value=three).with_id("small")
    large = write_number(value=7).with_id("large")
    doubled = double_number(number=small.outputs["number"])
    summed = add_numbers(left=doubled.outputs["doubled"], right=large.outputs["number"])
    note = note_done().after(summed).with_beam_args(["--own=1"])
    return Pipeline(
        "diamond",
        [note, summed, doubled, large, small],
        root=str(root),
        store=store_url,
        beam_pipeline_args=["--pipeline=1"],
        **kwargs,
    )


def _failing(root, store_url) -> Pipeline:
    """A failure with a dependent, beside an independent branch."""
    source = write_number()
    broken = fail_loudly(number=source.outputs["number"])
    after_broken = double_number(number=broken.outputs["out"]).with_id("after_broken")
    independent = double_number(number=source.outputs["number"])
    return Pipeline(
        "failing",
        [source, broken, after_broken, independent],
        root=str(root),
        store=store_url,
    )


def _error_text(error: PipelineRunError) -> str:
    """The error's message without its run and execution ids."""
    text = str(error).replace(error.run_id, "RUN")
    return re.sub(r"\(execution \d+\)", "(execution N)", text)


def _records(store_url: str, run_id: str, root) -> dict:
    """What the store holds about a run, without ids, times and the root's path."""
    with MetadataStore(store_url) as store:
        run = store.get_run(run_id)
        executions = store.executions_of_run(run_id)
        names = {}
        for execution in executions:
            for output, artifact in store.outputs_of(execution.id).items():
                names.setdefault(artifact.id, f"{execution.component_id}.{output}")
        component_of = {e.id: e.component_id for e in executions}

        def artifact(a: Artifact) -> dict:
            return {
                "name": names.get(a.id),
                "type": a.TYPE_NAME,
                "state": a.state.value,
                "properties": a.properties,
                "folder": os.path.dirname(os.path.relpath(a.uri, root)),
                "files": sorted(os.listdir(a.uri)) if os.path.isdir(a.uri) else None,
            }

        recorded = {}
        for e in executions:
            last_error_line = e.error.strip().splitlines()[-1] if e.error else None
            recorded[e.component_id] = {
                "type": e.component_type,
                "state": e.state.value,
                "parameters": e.parameters,
                "result": e.result,
                "code_version": e.code_version,
                "keyed": e.fingerprint is not None,
                "cached": e.cached_from is not None,
                "error": last_error_line,
                "inputs": {
                    n: names.get(a.id) for n, a in store.inputs_of(e.id).items()
                },
                "outputs": {n: artifact(a) for n, a in store.outputs_of(e.id).items()},
            }

        def node(kind: str, node_id: int) -> str:
            if kind == "artifact":
                return names.get(node_id, "an artifact of an earlier run")
            return (
                component_of.get(node_id) or store.get_execution(node_id).component_id
            )

        lineage = {
            (node(src_kind, src), node(dst_kind, dst), path)
            for artifact_id in names
            for src_kind, src, dst_kind, dst, path in store.upstream(artifact_id).edges
        }
    return {
        "run": (run.pipeline_name, run.state.value, run.properties == {"root": root}),
        "executions": recorded,
        "lineage": lineage,
    }


class TestSameRecordsAsLocalRunner:
    def test_a_diamond_with_properties_and_an_after(self, tmp_path):
        recorded = {}
        for name, runner in [("local", LocalRunner()), ("beam", BeamDagRunner())]:
            root = str(tmp_path / name)
            store_url = f"sqlite:///{tmp_path / name / 'm.sqlite'}"
            result = runner.run(_diamond(root, store_url))
            recorded[name] = _records(store_url, result.run_id, root)
            assert result.state == "COMPLETE"
            assert set(result.executions) == {
                "small",
                "large",
                "double_number",
                "add_numbers",
                "note_done",
            }
            assert _read(result.artifact("add_numbers", "rows")) == 13
        assert recorded["beam"] == recorded["local"]
        summed = recorded["beam"]["executions"]["add_numbers"]
        assert summed["outputs"]["rows"]["properties"] == {
            "split_names": ["train"],
            "row_counts": {"train": 13},
        }
        assert summed["inputs"] == {
            "left": "double_number.doubled",
            "right": "large.number",
        }
        note = pathlib.Path(tmp_path / "beam" / "note_done" / "note")
        (args_file,) = note.glob("*/args.txt")
        assert args_file.read_text() == "--pipeline=1 --own=1"

    def test_a_failure_skips_what_depends_on_it_and_nothing_else(self, tmp_path):
        recorded, errors = {}, {}
        for name, runner in [("local", LocalRunner()), ("beam", BeamDagRunner())]:
            root = str(tmp_path / name)
            store_url = f"sqlite:///{tmp_path / name / 'm.sqlite'}"
            with pytest.raises(PipelineRunError) as caught:
                runner.run(_failing(root, store_url))
            recorded[name] = _records(store_url, caught.value.run_id, root)
            errors[name] = caught.value
        assert recorded["beam"] == recorded["local"]
        states = {c: e["state"] for c, e in recorded["beam"]["executions"].items()}
        assert states == {
            "write_number": "COMPLETE",
            "fail_loudly": "FAILED",
            "after_broken": "SKIPPED",
            "double_number": "COMPLETE",
        }
        assert recorded["beam"]["run"] == ("failing", "FAILED", True)
        abandoned = recorded["beam"]["executions"]["fail_loudly"]["outputs"]["out"]
        assert abandoned["state"] == "ABANDONED" and abandoned["files"] is None
        # The error reads as LocalRunner's, with the user's exception chained.
        assert _error_text(errors["beam"]) == _error_text(errors["local"])
        assert errors["beam"].skipped == ["after_broken"]
        assert isinstance(errors["beam"].__cause__, ValueError)
        assert "failed: ValueError: cannot use 7" in str(errors["beam"])

    def test_components_defined_in_a_function(self, tmp_path):
        @component
        def make_word(word: Output[Artifact], text: str = "beam"):
            pathlib.Path(word.uri, "word.txt").write_text(text)

        @component
        def shout(word: Input[Artifact], loud: Output[Artifact]):
            text = pathlib.Path(word.uri, "word.txt").read_text()
            pathlib.Path(loud.uri, "word.txt").write_text(text.upper())
            return {"loud": text.upper()}

        recorded = {}
        for name, runner in [("local", LocalRunner()), ("beam", BeamDagRunner())]:
            made = make_word()
            pipe = Pipeline(
                "words",
                [made, shout(word=made.outputs["word"])],
                root=str(tmp_path / name),
                store=str(tmp_path / name / "m.sqlite"),
            )
            result = runner.run(pipe)
            assert result.executions["shout"].result == {"loud": "BEAM"}
            recorded[name] = _records(
                f"sqlite:///{tmp_path / name / 'm.sqlite'}",
                result.run_id,
                str(tmp_path / name),
            )
        assert recorded["beam"] == recorded["local"]


class TestCacheAcrossRunners:
    @pytest.mark.parametrize(
        "first, second",
        [(LocalRunner, BeamDagRunner), (BeamDagRunner, LocalRunner)],
        ids=["local-then-beam", "beam-then-local"],
    )
    def test_a_run_by_one_is_a_cache_hit_for_the_other(
        self, tmp_path, store_url, first, second
    ):
        earlier = first().run(_diamond(tmp_path / "root", store_url))
        later = second().run(_diamond(tmp_path / "root", store_url))
        for component_id, execution in later.executions.items():
            assert execution.state == ExecutionState.CACHED, component_id
            assert execution.cached_from == earlier.executions[component_id].id
        assert later.artifact("add_numbers", "rows") == earlier.artifact(
            "add_numbers", "rows"
        )

    def test_a_changed_parameter_reruns_only_what_depends_on_it(
        self, tmp_path, store_url
    ):
        LocalRunner().run(_diamond(tmp_path / "root", store_url))
        result = BeamDagRunner().run(_diamond(tmp_path / "root", store_url, three=4))
        states = {c: e.state.value for c, e in result.executions.items()}
        assert states == {
            "small": "COMPLETE",
            "large": "CACHED",
            "double_number": "COMPLETE",
            "add_numbers": "COMPLETE",
            "note_done": "CACHED",  # no inputs: ordered after add_numbers only
        }
        assert _read(result.artifact("add_numbers", "rows")) == 15

    def test_cache_off_for_the_run(self, tmp_path, store_url):
        LocalRunner().run(_diamond(tmp_path / "root", store_url))
        result = BeamDagRunner(enable_cache=False).run(
            _diamond(tmp_path / "root", store_url)
        )
        assert {e.state for e in result.executions.values()} == {
            ExecutionState.COMPLETE
        }


def test_latest_blessed_model_is_resolved_in_the_stage(tmp_path, store_url):
    def run(runner, quality):
        trainer = train(quality=quality)
        judged = judge(model=trainer.outputs["model"])
        pipe = Pipeline(
            "blessed", [trainer, judged], root=str(tmp_path / "r"), store=store_url
        )
        return runner.run(pipe)

    first = run(BeamDagRunner(), quality=1)
    assert first.executions["judge"].result == {"baseline": None}
    second = run(LocalRunner(), quality=2)
    third = run(BeamDagRunner(), quality=3)
    baseline = second.artifact("train", "model")
    assert third.executions["judge"].result == {"baseline": baseline.id}
    with MetadataStore(store_url) as store:
        assert store.inputs_of(third.executions["judge"].id)["baseline"] == baseline


def test_stages_in_other_processes_record_the_same(tmp_path):
    """With FnApiRunner's worker processes the pipeline travels pickled, the stages
    open the store by URL, and a failure is rebuilt from its record."""
    runner = BeamDagRunner(
        beam_orchestrator_args=[
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=1",
        ]
    )
    store_url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    with pytest.raises(PipelineRunError) as caught:
        runner.run(_failing(tmp_path / "root", store_url))
    recorded = _records(store_url, caught.value.run_id, str(tmp_path / "root"))
    local_url = f"sqlite:///{tmp_path / 'local.sqlite'}"
    with pytest.raises(PipelineRunError) as local:
        LocalRunner().run(_failing(tmp_path / "local", local_url))
    assert recorded == _records(local_url, local.value.run_id, str(tmp_path / "local"))
    assert _error_text(caught.value) == _error_text(local.value)
    with MetadataStore(store_url) as store:
        pids = {e.pid for e in store.executions_of_run(caught.value.run_id)}
    assert os.getpid() not in pids


class TestChoosingTheRunner:
    def test_pipeline_run_takes_a_runner_name_or_instance(self, tmp_path, store_url):
        by_name = _diamond(tmp_path / "r", store_url).run(runner="beam")
        assert by_name.state == "COMPLETE"
        by_instance = _diamond(tmp_path / "r", store_url).run(
            runner=BeamDagRunner(enable_cache=False)
        )
        assert by_instance.executions["small"].state == ExecutionState.COMPLETE

    def test_an_unknown_runner_name(self, tmp_path, store_url):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "Pipeline 'diamond': unknown runner 'beem'. Did you mean 'beam'?"
            ),
        ):
            _diamond(tmp_path, store_url).run(runner="beem")

    def test_options_beside_a_runner_instance(self, tmp_path, store_url):
        with pytest.raises(DefinitionError, match="pass the options to the runner"):
            _diamond(tmp_path, store_url).run(runner=LocalRunner(), store=store_url)

    def test_an_in_memory_store_is_refused_before_anything_runs(self, tmp_path):
        store = MetadataStore.in_memory()
        with pytest.raises(DefinitionError, match="the metadata store is in memory"):
            BeamDagRunner(store=store).run(_diamond(tmp_path / "r", None))
        assert store.list_runs() == []
        assert not (tmp_path / "r").exists()


class TestCommandLine:
    def test_orchestrator_beam_runs_the_pipeline_file(self, tmp_path, capsys):
        pipeline_file = _pipeline_file(
            tmp_path, f"_diamond({str(tmp_path / 'r')!r}, None)"
        )
        store = str(tmp_path / "m.sqlite")
        args = ["run", pipeline_file, "--store", store, "--orchestrator", "beam"]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert re.search(r"add_numbers +add_numbers +COMPLETE", out), out
        with MetadataStore(store) as opened:
            (run,) = opened.list_runs()
        assert run.state == RunState.COMPLETE

    def test_parallelism_is_for_the_local_orchestrator(self, tmp_path, capsys):
        code = main(
            ["run", "x.py", "--orchestrator", "beam", "--parallelism", "2"],
        )
        assert code == 2
        assert "--parallelism is for --orchestrator local" in capsys.readouterr().err

    def test_sigterm_fails_the_run_and_exits_143(self, tmp_path, store_url):
        started = tmp_path / "started"
        pipeline_file = _pipeline_file(
            tmp_path,
            f"Pipeline('term', [count_to(started={str(started)!r}, allow='')], "
            f"root={str(tmp_path / 'r')!r}, store={store_url!r})",
        )
        command = [sys.executable, "-m", "pipeline.cli", "run", pipeline_file]
        with _started(command + ["--orchestrator", "beam"], started) as child:
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=60) == 143
        with MetadataStore(store_url) as store:
            (run,) = store.list_runs()
            (execution,) = store.executions_of_run(run.run_id)
            (progress,) = store.outputs_of(execution.id).values()
        assert (run.state, execution.state) == (RunState.FAILED, "FAILED")
        assert execution.error == "interrupted: Terminated"
        assert progress.state.value == "ABANDONED"
        assert not os.path.exists(progress.uri)

    def test_a_killed_beam_run_is_resumed_by_the_next(self, tmp_path, store_url):
        started, allow = tmp_path / "started", tmp_path / "allow-finish"
        pipeline_file = _pipeline_file(
            tmp_path,
            f"Pipeline('resume', [count_to(started={str(started)!r}, "
            f"allow={str(allow)!r})], root={str(tmp_path / 'r')!r}, "
            f"store={store_url!r})",
        )
        command = [sys.executable, "-m", "pipeline.cli", "run", pipeline_file]
        command += ["--orchestrator", "beam"]
        with _started(command, started) as child:
            child.kill()
        allow.write_text("")
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        with MetadataStore(store_url) as store:
            killed_run, resumed_run = sorted(
                store.list_runs(pipeline_name="resume"), key=lambda r: r.start_time
            )
            (killed,) = store.executions_of_run(killed_run.run_id)
            (resumed,) = store.executions_of_run(resumed_run.run_id)
            progress = store.outputs_of(resumed.id)["progress"]
        assert (killed_run.state, killed.state) == (RunState.FAILED, "FAILED")
        assert resumed.result == {"resumed_from": 3}
        assert pathlib.Path(progress.uri, "step").read_text() == "6"
        assert not os.path.exists(started.read_text())  # taken over, not copied


@pytest.mark.skipif(not PENGUINS.is_file(), reason="needs ../shared/data/penguins")
def test_example_gen_and_statistics_gen_as_beam_stages(tmp_path, store_url):
    from components import CsvExampleGen, StatisticsGen

    gen = CsvExampleGen(input_base=str(PENGUINS))
    stats = StatisticsGen(examples=gen.outputs["examples"])
    pipe = Pipeline("penguins", [gen, stats], root=str(tmp_path / "r"), store=store_url)
    result = BeamDagRunner().run(pipe)
    examples = result.artifact("CsvExampleGen", "examples")
    assert sum(examples.row_counts.values()) == 334
    statistics = result.artifact("StatisticsGen", "statistics")
    assert statistics.split_names == examples.split_names
    assert result.executions["StatisticsGen"].result == {
        "num_examples": examples.row_counts
    }
    again = LocalRunner().run(pipe)
    assert {e.state for e in again.executions.values()} == {ExecutionState.CACHED}
