"""Inputs resolved from the store (LATEST_BLESSED_MODEL) and resumable outputs."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline import (
    LATEST_BLESSED_MODEL,
    DefinitionError,
    Input,
    MetadataStore,
    Model,
    ModelBlessing,
    ModelRun,
    Output,
    Parameter,
    Pipeline,
    component,
)
from pipeline.metadata import ExecutionState

REPO = pathlib.Path(__file__).resolve().parents[2]


@component
def train(model: Output[Model], quality: Parameter[int] = 1):
    pathlib.Path(model.uri, "quality").write_text(str(quality))


@component
def judge(
    model: Input[Model],
    blessing: Output[ModelBlessing],
    baseline: Input[Model] = LATEST_BLESSED_MODEL,
    bar: Parameter[int] = 0,
):
    quality = int(pathlib.Path(model.uri, "quality").read_text())
    blessing.blessed = quality > bar
    return {"baseline": baseline.id if baseline is not None else None}


def _run(tmp_path, store_url, quality, bar=0, **judge_args):
    trainer = train(quality=quality)
    judged = judge(model=trainer.outputs["model"], bar=bar, **judge_args)
    return Pipeline(
        "resolve", [trainer, judged], root=str(tmp_path / "root"), store=store_url
    ).run()


class TestLatestBlessedModel:
    def test_first_run_has_no_baseline_then_the_blessed_model_is_used(
        self, tmp_path, store_url
    ):
        first = _run(tmp_path, store_url, quality=1)
        assert first.executions["judge"].result == {"baseline": None}
        first_model = first.artifact("train", "model")

        second = _run(tmp_path, store_url, quality=2)
        assert second.executions["judge"].result == {"baseline": first_model.id}
        with MetadataStore(store_url) as store:
            inputs = store.inputs_of(second.executions["judge"].id)
        assert inputs["baseline"].id == first_model.id  # recorded in the lineage

    def test_an_unblessed_model_is_never_the_baseline(self, tmp_path, store_url):
        first = _run(tmp_path, store_url, quality=1, bar=5)  # not blessed
        assert first.executions["judge"].result == {"baseline": None}
        second = _run(tmp_path, store_url, quality=2, bar=5)
        assert second.executions["judge"].result == {"baseline": None}

    def test_a_model_is_not_its_own_baseline(self, tmp_path, store_url):
        first = _run(tmp_path, store_url, quality=1)
        # Same model (train is cached); judge re-runs because its parameter changed.
        second = _run(tmp_path, store_url, quality=1, bar=-1)
        assert (
            second.artifact("train", "model").id == first.artifact("train", "model").id
        )
        assert second.executions["judge"].result == {"baseline": None}

    def test_none_turns_the_lookup_off(self, tmp_path, store_url):
        _run(tmp_path, store_url, quality=1)
        second = _run(tmp_path, store_url, quality=2, baseline=None)
        assert second.executions["judge"].result == {"baseline": None}

    def test_a_new_blessing_changes_the_cache_key(self, tmp_path, store_url):
        _run(tmp_path, store_url, quality=1)
        second = _run(tmp_path, store_url, quality=2)
        third = _run(tmp_path, store_url, quality=2)  # baseline is now model 2
        assert third.executions["judge"].state == ExecutionState.COMPLETE
        assert third.executions["judge"].result == {"baseline": None}
        assert (
            third.artifact("train", "model").id == second.artifact("train", "model").id
        )

    def test_only_a_resolver_or_none_may_be_an_input_default(self):
        with pytest.raises(DefinitionError, match="LATEST_BLESSED_MODEL"):

            @component
            def bad(model: Input[Model] = "latest"):
                pass


class TestResumableOutputs:
    def test_a_killed_execution_is_resumed_by_the_next_run(self, tmp_path, store_url):
        marker = tmp_path / "started"
        allow = tmp_path / "allow-finish"
        pipeline_file = tmp_path / "resume.py"
        pipeline_file.write_text(
            textwrap.dedent(
                f"""
                import pathlib, time
                from pipeline import ModelRun, Output, Parameter, Pipeline, component

                @component
                def count(run: Output[ModelRun], until: Parameter[int] = 6):
                    progress = pathlib.Path(run.uri, "progress")
                    start = int(progress.read_text()) if progress.exists() else 0
                    for step in range(start + 1, until + 1):
                        progress.write_text(str(step))
                        if step == 3 and not pathlib.Path({str(allow)!r}).exists():
                            pathlib.Path({str(marker)!r}).write_text(run.uri)
                            time.sleep(600)
                    return {{"resumed_from": start}}

                pipeline = Pipeline("resume", [count()], root={str(tmp_path / "r")!r},
                                    store={store_url!r})
                """
            )
        )
        command = [sys.executable, "-m", "pipeline.cli", "run", str(pipeline_file)]
        child = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
        killed_uri = marker.read_text()

        allow.write_text("")
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)

        with MetadataStore(store_url) as store:
            first, second = sorted(
                (r for r in store.list_runs(pipeline_name="resume")),
                key=lambda r: r.start_time,
            )
            (killed,) = store.executions_of_run(first.run_id)
            (resumed,) = store.executions_of_run(second.run_id)
            assert killed.state == ExecutionState.FAILED
            assert resumed.state == ExecutionState.COMPLETE
            assert resumed.result == {"resumed_from": 3}
            run_artifact = store.outputs_of(resumed.id)["run"]
        assert pathlib.Path(run_artifact.uri, "progress").read_text() == "6"
        assert not os.path.exists(killed_uri)  # taken over, not copied

    def test_a_failed_execution_is_not_resumed(self, tmp_path, store_url):
        attempts = []

        @component
        def flaky(run: Output[ModelRun]):
            progress = pathlib.Path(run.uri, "progress")
            attempts.append(progress.exists())
            progress.write_text("1")
            if len(attempts) == 1:
                raise RuntimeError("first attempt fails")

        def go():
            return Pipeline(
                "flaky", [flaky()], root=str(tmp_path / "r"), store=store_url
            ).run()

        with pytest.raises(Exception, match="first attempt fails"):
            go()
        go()
        assert attempts == [False, False]  # an exception cleans up; only kills resume

    def test_resumable_types(self):
        assert ModelRun.RESUMABLE and not Model.RESUMABLE
