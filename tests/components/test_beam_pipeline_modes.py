"""The local running mode follows the input size, and never overrides the user."""

from __future__ import annotations

import logging

import pytest

from components.beam_pipeline import (
    LARGE_INPUT_BYTES,
    MAX_AUTO_WORKERS,
    choose_local_mode,
    make_beam_pipeline,
)

MULTI_2 = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _options(pipeline) -> dict:
    return pipeline.options.get_all_options()


class TestChooseLocalMode:
    def test_no_input_size_keeps_the_default_silently(self):
        assert choose_local_mode([], None, cores=8) == ([], "")

    def test_small_input_stays_in_memory(self):
        added, reason = choose_local_mode([], LARGE_INPUT_BYTES - 1, cores=8)
        assert added == []
        assert "in memory" in reason
        assert "under 1 GB" in reason

    def test_large_input_runs_multi_processing(self):
        added, reason = choose_local_mode([], LARGE_INPUT_BYTES, cores=2)
        assert added == MULTI_2
        assert reason == (
            "1 GB of input, at least 1 GB: FnApiRunner multi_processing with "
            "2 workers (pass --direct_running_mode=in_memory to keep one process)"
        )

    def test_workers_are_capped(self):
        added, _ = choose_local_mode([], 5 * LARGE_INPUT_BYTES, cores=64)
        assert added[-1] == f"--direct_num_workers={MAX_AUTO_WORKERS}"

    def test_one_core_stays_in_memory(self):
        added, reason = choose_local_mode([], 5 * LARGE_INPUT_BYTES, cores=1)
        assert added == []
        assert "one CPU core" in reason

    @pytest.mark.parametrize(
        "given",
        [
            ["--direct_running_mode=in_memory"],
            ["--direct_running_mode", "multi_threading"],
            ["--direct_num_workers=3"],
            ["--runner=FnApiRunner"],
            ["--runner", "DirectRunner"],
            ["--environment_type=LOOPBACK"],
        ],
    )
    def test_user_options_win(self, given):
        added, reason = choose_local_mode(given, 5 * LARGE_INPUT_BYTES, cores=8)
        assert added == []
        assert "as given" in reason
        assert given[0].split("=")[0] in reason

    def test_unrelated_options_do_not_count_as_a_choice(self):
        added, _ = choose_local_mode(
            ["--temp_location=/tmp/x", "--save_main_session"],
            LARGE_INPUT_BYTES,
            cores=2,
        )
        assert added == MULTI_2


class TestMakeBeamPipeline:
    def test_large_input_gets_worker_processes_and_says_why(self, caplog, monkeypatch):
        monkeypatch.setattr("components.beam_pipeline._usable_cores", lambda: 2)
        with caplog.at_level(logging.INFO, logger="mlpipe.beam"):
            pipeline = make_beam_pipeline(
                [], job_label="taxi-CsvExampleGen", input_bytes=2 * LARGE_INPUT_BYTES
            )
        options = _options(pipeline)
        assert options["runner"] == "FnApiRunner"
        assert options["direct_running_mode"] == "multi_processing"
        assert options["direct_num_workers"] == 2
        assert caplog.messages == [
            "taxi-CsvExampleGen: 2 GB of input, at least 1 GB: FnApiRunner "
            "multi_processing with 2 workers (pass --direct_running_mode=in_memory "
            "to keep one process)"
        ]

    def test_small_input_runs_in_memory_and_says_why(self, caplog):
        with caplog.at_level(logging.INFO, logger="mlpipe.beam"):
            pipeline = make_beam_pipeline([], job_label="t-gen", input_bytes=5_000_000)
        assert _options(pipeline)["direct_running_mode"] == "in_memory"
        assert caplog.messages == [
            "t-gen: 5 MB of input, under 1 GB: FnApiRunner in memory, one process"
        ]

    def test_user_options_are_kept_as_given(self, caplog):
        with caplog.at_level(logging.INFO, logger="mlpipe.beam"):
            pipeline = make_beam_pipeline(
                ["--direct_running_mode=in_memory"],
                job_label="t-gen",
                input_bytes=5 * LARGE_INPUT_BYTES,
            )
        options = _options(pipeline)
        assert options["direct_running_mode"] == "in_memory"
        assert options["direct_num_workers"] == 1
        assert caplog.messages == [
            "t-gen: 5 GB of input; the Beam options "
            "['--direct_running_mode=in_memory'] decide the runner, as given"
        ]

    def test_components_that_give_no_size_are_unchanged_and_quiet(self, caplog):
        with caplog.at_level(logging.INFO, logger="mlpipe.beam"):
            pipeline = make_beam_pipeline(["--direct_num_workers=2"])
        options = _options(pipeline)
        assert options["direct_running_mode"] == "in_memory"
        assert options["direct_num_workers"] == 2
        assert caplog.messages == []


def test_csv_example_gen_reports_its_input_size(tmp_path, caplog):
    from components.example_gen import CsvExampleGen
    from pipeline import Examples, ExecutionContext

    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(100)))
    out = tmp_path / "examples"
    out.mkdir()
    context = ExecutionContext("p", str(tmp_path), "r", "gen", 1)
    with caplog.at_level(logging.INFO, logger="mlpipe.beam"):
        result = CsvExampleGen.fn(
            examples=Examples(uri=str(out)), input_base=str(csv), context=context
        )
    assert sum(result["row_counts"].values()) == 100
    size = csv.stat().st_size
    assert f"p-gen: {size} bytes of input, under 1 GB" in caplog.text
