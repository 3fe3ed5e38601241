"""Tests for pipeline/cli.py: the ``mlpipe`` command as people run it.

Runs go through real subprocesses (``python -m pipeline.cli``), so exit statuses,
signals and imports are the real ones; the read-only commands are also called in
process through ``main([...])`` where printing is all there is to check.
"""

import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline.cli import main
from pipeline.metadata import ExecutionState, MetadataStore, RunState

REPO = pathlib.Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "apache_beam", "tensorflow_transform")

PIPELINES = '''
import json
import pathlib
import sys
import time

from pipeline import (
    ExecutionContext, Examples, Input, Model, ModelBlessing, Output, Parameter,
    Pipeline, component,
)

ROOT = {root!r}


@component
def make_rows(rows: Output[Examples], count: Parameter[int] = 3):
    """Writes the numbers 0 .. count-1."""
    pathlib.Path(rows.uri, "rows.txt").write_text(" ".join(map(str, range(count))))
    rows.row_counts = {{"all": count}}
    return {{"rows": count}}


@component
def fit_total(rows: Input[Examples], model: Output[Model], context: ExecutionContext):
    """Sums the rows; keeps the Beam options it was given."""
    numbers = [int(n) for n in pathlib.Path(rows.uri, "rows.txt").read_text().split()]
    facts = {{"total": sum(numbers), "beam_args": context.beam_pipeline_args}}
    pathlib.Path(model.uri, "model.json").write_text(json.dumps(facts))
    return {{"total": sum(numbers)}}


@component
def bless_model(model: Input[Model], blessing: Output[ModelBlessing]):
    """Blesses every model."""
    blessing.blessed = True
    blessing.reasons = ["always"]
    pathlib.Path(blessing.uri, "BLESSED").write_text("")


@component
def parse_rows(rows: Input[Examples], parsed: Output[Examples]):
    """Fails, leaving a partial output behind."""
    pathlib.Path(parsed.uri, "partial.txt").write_text("half")
    raise ValueError("row 2 is not a number")


@component
def use_parsed(parsed: Input[Examples], report: Output[Model]):
    """Never runs: its input fails."""


@component
def wait_for_kill(rows: Input[Examples], out: Output[Model], marker: str = ""):
    """Writes a file, tells the test where, and sleeps until killed."""
    pathlib.Path(out.uri, "partial.txt").write_text("half")
    pathlib.Path(marker).write_text(out.uri)
    time.sleep(120)


def _alpha():
    rows = make_rows()
    model = fit_total(rows=rows.outputs["rows"])
    blessing = bless_model(model=model.outputs["model"])
    return Pipeline("alpha", [rows, model, blessing], root=ROOT + "/alpha")


alpha = _alpha()
beta = Pipeline("beta", [make_rows(count=5)], root=ROOT + "/beta")
'''

FAILING = """
from pipelines_for_cli_test import make_rows, parse_rows, use_parsed, ROOT
from pipeline import Pipeline

rows = make_rows(count=4)
parsed = parse_rows(rows=rows.outputs["rows"])
report = use_parsed(parsed=parsed.outputs["parsed"])
failing = Pipeline("failing", [rows, parsed, report], root=ROOT + "/failing")
"""

KILLED = """
from pipelines_for_cli_test import make_rows, wait_for_kill, ROOT
from pipeline import Pipeline

rows = make_rows()
killed = Pipeline(
    "killed", [rows, wait_for_kill(rows=rows.outputs["rows"], marker={marker!r})],
    root=ROOT + "/killed",
)
"""

IMPORTED_MODULES = """
import json, sys
from pipeline.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
watched = set(json.loads(sys.argv[2]))
found = sorted(m for m in sys.modules if m.split(".")[0] in watched)
print(json.dumps({"code": code, "modules": found}))
"""


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


def _mlpipe(*args, env=None, timeout=120) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *map(str, args)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli(capsys):
    """Calls ``main`` in this process; returns its exit status and printed text."""

    def call(*args) -> Result:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def _write_pipelines(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipelines_for_cli_test.py"
    path.write_text(PIPELINES.format(root=str(folder / "root")))
    return path


def _run_id(text: str) -> str:
    match = re.search(r"Run (\d{8}-\d{6}-[0-9a-f]+)", text)
    assert match, text
    return match.group(1)


def _artifacts(out: str) -> dict[str, tuple[int, str, str, str]]:
    """Maps 'component.output' to (id, type, state, uri) from a run's artifact table."""
    found = {}
    for line in out.splitlines():
        match = re.match(
            r"^(\w+\.\w+)\s+(\d+)\s+(\w+)\s+(LIVE|PENDING|ABANDONED)\s+(\S+)$", line
        )
        if match:
            name, artifact_id, type_name, state, uri = match.groups()
            found[name] = (int(artifact_id), type_name, state, uri)
    return found


@pytest.fixture
def pipelines(tmp_path):
    """A pipeline file with pipelines 'alpha' and 'beta', and a store URL."""
    return _write_pipelines(tmp_path), f"sqlite:///{tmp_path / 'metadata.sqlite'}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A store with runs of alpha (fresh, then cached), beta and a failing pipeline."""
    folder = tmp_path_factory.mktemp("recorded")
    path = _write_pipelines(folder)
    (folder / "failing.py").write_text(FAILING)
    store = f"sqlite:///{folder / 'metadata.sqlite'}"
    runs = {}
    for name, args in [
        ("alpha1", [path, "--pipeline", "alpha"]),
        ("alpha2", [path, "--pipeline", "alpha"]),
        ("beta", [path, "--pipeline", "beta"]),
        ("failing", [folder / "failing.py"]),
    ]:
        runs[name] = _mlpipe("run", *args, "--store", store)
    assert [r.code for r in runs.values()] == [0, 0, 0, 1], runs
    return {
        "store": store,
        "root": folder / "root",
        "runs": {name: _run_id(r.out) for name, r in runs.items()},
        "artifacts": _artifacts(runs["alpha1"].out),
        "failing_artifacts": _artifacts(runs["failing"].out),
    }


class TestImports:
    @pytest.mark.parametrize(
        "args",
        [
            ["--help"],
            ["runs"],
            ["runs", "--json"],
            ["show", "latest"],
            ["show", "1"],
            ["lineage", "3"],
            ["lineage", "1", "--downstream"],
            ["components"],
        ],
    )
    def test_read_only_commands_leave_tensorflow_and_beam_out(self, args, recorded):
        argv = [*args, "--store", recorded["store"]] if args != ["--help"] else args
        watched = [*HEAVY, "sqlalchemy"]
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                IMPORTED_MODULES,
                json.dumps(argv),
                json.dumps(watched),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = json.loads(done.stdout.splitlines()[-1])
        assert report["code"] == 0, done.stderr
        heavy = [m for m in report["modules"] if m.split(".")[0] in HEAVY]
        assert heavy == []
        if args == ["--help"]:
            # --help must stay fast: not even the store's database layer.
            assert report["modules"] == []

    def test_help_lists_every_command(self):
        done = _mlpipe("--help")
        assert done.code == 0
        for command in ("run", "runs", "show", "lineage", "components"):
            assert re.search(rf"^\s+{command}\s", done.out, re.MULTILINE), done.out
        assert "MLPIPE_STORE" in done.out


class TestRun:
    def test_run_writes_files_and_names_run_and_artifacts(self, pipelines):
        path, store = pipelines
        done = _mlpipe("run", path, "--pipeline", "alpha", "--store", store)
        assert done.code == 0, done.err
        run_id = _run_id(done.out)
        assert f"Run {run_id} of pipeline 'alpha': COMPLETE" in done.out
        assert re.search(
            r"^make_rows\s+make_rows\s+COMPLETE\s.*\{\"rows\": 3\}", done.out, re.M
        )
        assert re.search(
            r"^fit_total\s+fit_total\s+COMPLETE\s.*\{\"total\": 3\}", done.out, re.M
        )
        artifacts = _artifacts(done.out)
        assert sorted(artifacts) == [
            "bless_model.blessing",
            "fit_total.model",
            "make_rows.rows",
        ]
        _, type_name, state, uri = artifacts["fit_total.model"]
        assert (type_name, state) == ("Model", "LIVE")
        root = path.parent / "root" / "alpha"
        execution = pathlib.Path(uri).name
        assert pathlib.Path(uri) == root / "fit_total" / "model" / execution
        assert json.loads(pathlib.Path(uri, "model.json").read_text())["total"] == 3

    def test_second_run_is_cached_and_no_cache_runs_again(self, pipelines):
        path, store = pipelines
        first = _mlpipe("run", path, "--pipeline", "alpha", "--store", store)
        second = _mlpipe("run", path, "--pipeline", "alpha", "--store", store)
        assert second.code == 0, second.err
        assert re.search(
            r"^make_rows\s+make_rows\s+CACHED\s.*reused execution", second.out, re.M
        )
        # A cached component still shows what the execution it reused returned.
        assert re.search(
            r"^fit_total\s+fit_total\s+CACHED\s.*\{\"total\": 3\}", second.out, re.M
        )
        assert _artifacts(second.out) == _artifacts(first.out)

        third = _mlpipe(
            "run", path, "--pipeline", "alpha", "--store", store, "--no-cache"
        )
        assert third.code == 0, third.err
        with MetadataStore(store) as opened:
            states = [e.state for e in opened.executions_of_run(_run_id(third.out))]
            cached = [e.state for e in opened.executions_of_run(_run_id(second.out))]
        assert states == [ExecutionState.COMPLETE] * 3
        assert cached == [ExecutionState.CACHED] * 3
        assert (
            _artifacts(third.out)["fit_total.model"]
            != _artifacts(first.out)["fit_total.model"]
        )

    def test_beam_args_reach_the_execution_context(self, pipelines):
        path, store = pipelines
        done = _mlpipe(
            "run",
            path,
            "--pipeline",
            "alpha",
            "--store",
            store,
            "--beam-arg=--foo=1",
            "--beam-arg",
            "--direct_num_workers=2",
        )
        assert done.code == 0, done.err
        uri = _artifacts(done.out)["fit_total.model"][3]
        facts = json.loads(pathlib.Path(uri, "model.json").read_text())
        assert facts["beam_args"] == ["--foo=1", "--direct_num_workers=2"]

    def test_root_overrides_the_pipelines_root(self, pipelines, tmp_path):
        path, store = pipelines
        done = _mlpipe(
            "run",
            path,
            "--pipeline",
            "beta",
            "--store",
            store,
            "--root",
            tmp_path / "elsewhere",
        )
        assert done.code == 0, done.err
        uri = _artifacts(done.out)["make_rows.rows"][3]
        assert uri.startswith(str(tmp_path / "elsewhere" / "make_rows" / "rows") + "/")
        assert pathlib.Path(uri, "rows.txt").read_text() == "0 1 2 3 4"
        assert not (tmp_path / "root").exists()

    def test_pipeline_option_chooses_among_several(self, pipelines):
        path, store = pipelines
        beta = _mlpipe("run", path, "--pipeline", "beta", "--store", store)
        assert beta.code == 0, beta.err
        assert "of pipeline 'beta': COMPLETE" in beta.out
        assert list(_artifacts(beta.out)) == ["make_rows.rows"]

        several = _mlpipe("run", path, "--store", store)
        assert several.code == 2
        assert (
            "defines several pipelines (alpha, beta); choose one with --pipeline NAME"
            in several.err
        )
        unknown = _mlpipe("run", path, "--pipeline", "alpah", "--store", store)
        assert unknown.code == 2
        assert "defines no pipeline named 'alpah'. Did you mean 'alpha'?" in unknown.err


class TestFailure:
    def test_failed_component_exit_1_with_its_traceback_and_show(self, tmp_path):
        _write_pipelines(tmp_path)
        (tmp_path / "failing.py").write_text(FAILING)
        store = f"sqlite:///{tmp_path / 'metadata.sqlite'}"

        done = _mlpipe("run", tmp_path / "failing.py", "--store", store)

        assert done.code == 1
        run_id = _run_id(done.err)
        assert f"Run {run_id} of pipeline 'failing' failed:" in done.err
        assert (
            "Component 'parse_rows' (execution 2) failed: ValueError: row 2 is not a number"
            in done.err
        )
        assert "Skipped because of it: use_parsed." in done.err
        assert f"Details: mlpipe show {run_id}" in done.err
        # The user's own traceback, without the framework's frames around it.
        assert "Error in component 'parse_rows':" in done.err
        assert ", in parse_rows\n" in done.err
        assert 'raise ValueError("row 2 is not a number")' in done.err
        assert "pipeline/runners/local.py" not in done.err
        parsed = _artifacts(done.out)["parse_rows.parsed"]
        assert parsed[2] == "ABANDONED"
        assert not pathlib.Path(parsed[3]).exists()

        shown = _mlpipe("show", run_id, "--store", store)
        assert shown.code == 0, shown.err
        assert f"Run {run_id} of pipeline 'failing': FAILED" in shown.out
        assert re.search(r"^make_rows\s+make_rows\s+COMPLETE\s", shown.out, re.M)
        assert re.search(r"^parse_rows\s+parse_rows\s+FAILED\s", shown.out, re.M)
        assert re.search(r"^use_parsed\s+use_parsed\s+SKIPPED\s", shown.out, re.M)
        assert "parse_rows FAILED:" in shown.out
        assert "ValueError: row 2 is not a number" in shown.out
        assert (
            "use_parsed SKIPPED:\n    upstream component(s) ['parse_rows'] failed"
            in shown.out
        )
        assert "pipeline.errors.ExecutionError" not in shown.out

    def test_sigterm_fails_the_execution_and_removes_its_files(self, tmp_path):
        _write_pipelines(tmp_path)
        marker = tmp_path / "started"
        (tmp_path / "killed.py").write_text(KILLED.format(marker=str(marker)))
        store = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "run",
                str(tmp_path / "killed.py"),
                "--store",
                store,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while (
                not marker.exists()
                and time.monotonic() < deadline
                and child.poll() is None
            ):
                time.sleep(0.05)
            assert marker.exists(), child.communicate(timeout=10)
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()

        assert child.returncode == 128 + signal.SIGTERM
        assert "terminated (SIGTERM)" in err
        partial = pathlib.Path(marker.read_text())
        assert not partial.exists()
        with MetadataStore(store) as opened:
            (run,) = opened.list_runs()
            executions = {
                e.component_id: e for e in opened.executions_of_run(run.run_id)
            }
            killed = executions["wait_for_kill"]
            outputs = opened.outputs_of(killed.id)
        assert run.state is RunState.FAILED
        assert executions["make_rows"].state is ExecutionState.COMPLETE
        assert killed.state is ExecutionState.FAILED
        assert killed.error == "interrupted: Terminated"
        assert [(a.uri, a.state.value) for a in outputs.values()] == [
            (str(partial), "ABANDONED")
        ]


class TestBadInput:
    def test_pipeline_file_that_does_not_exist(self, tmp_path, store_url):
        done = _mlpipe("run", tmp_path / "nope.py", "--store", store_url)
        assert done.code == 2
        assert (
            f"mlpipe: error: Pipeline file '{tmp_path / 'nope.py'}' does not exist."
            in done.err
        )
        assert not (tmp_path / "metadata.sqlite").exists()

    def test_file_that_defines_no_pipeline(self, tmp_path, store_url):
        (tmp_path / "empty.py").write_text("x = 1\n")
        done = _mlpipe("run", tmp_path / "empty.py", "--store", store_url)
        assert done.code == 2
        assert (
            "empty.py defines no pipeline. Define create_pipeline() returning a Pipeline"
            in done.err
        )
        assert not (tmp_path / "metadata.sqlite").exists()

    def test_store_of_unknown_kind(self, pipelines, tmp_path):
        path, _ = pipelines
        done = _mlpipe(
            "run", path, "--pipeline", "beta", "--store", "nosuchdialect://x"
        )
        assert done.code == 2
        assert (
            "Cannot open the metadata store nosuchdialect://x: unknown database kind "
            "'nosuchdialect'" in done.err
        )
        # The root made for the run is taken back when the store cannot be opened.
        assert not (tmp_path / "root").exists()
        assert "Traceback" not in done.err

    def test_sqlite_store_under_a_regular_file(self, pipelines, tmp_path):
        path, _ = pipelines
        (tmp_path / "plain.txt").write_text("not a folder")
        store = f"sqlite:///{tmp_path / 'plain.txt' / 'metadata.sqlite'}"
        done = _mlpipe("run", path, "--pipeline", "beta", "--store", store)
        assert done.code == 2
        assert (
            f"Cannot open the metadata store {store}: "
            f"{tmp_path / 'plain.txt'} is a file, not a folder" in done.err
        )
        assert (
            "Choose a writable location with --store, MLPIPE_STORE or MLPIPE_HOME"
            in done.err
        )
        assert not (tmp_path / "root").exists()

    def test_root_that_is_not_writable(self, pipelines, tmp_path, store_url):
        path, _ = pipelines
        (tmp_path / "plain.txt").write_text("not a folder")
        root = tmp_path / "plain.txt" / "root"
        done = _mlpipe(
            "run", path, "--pipeline", "beta", "--store", store_url, "--root", root
        )
        assert done.code == 2
        assert f"mlpipe: error: The pipeline root '{root}' is not writable" in done.err
        # Checked before the store is opened: no store file for a run that never was.
        assert not (tmp_path / "metadata.sqlite").exists()

    def test_read_only_commands_never_create_a_store(self, cli, tmp_path):
        store = tmp_path / "typo.sqlite"
        for args in (["runs"], ["show", "latest"], ["lineage", "1"]):
            done = cli(*args, "--store", store)
            assert done.code == 2
            assert f"No metadata store at {store}: the file does not exist" in done.err
        assert not store.exists()
        store.write_text("")
        done = cli("runs", "--store", store)
        assert done.code == 2
        assert f"No metadata store at {store}: the file is empty." in done.err
        assert store.read_text() == ""

    def test_read_only_commands_with_a_bad_store(self, cli, tmp_path):
        (tmp_path / "plain.txt").write_text("not a database")
        done = cli("runs", "--store", "nosuchdialect://x")
        assert done.code == 2
        assert "unknown database kind 'nosuchdialect'" in done.err
        done = cli("runs", "--store", tmp_path / "plain.txt")
        assert done.code == 2
        assert "exists but is not a SQLite database" in done.err

    def test_unknown_run_id_suggests_a_close_one(self, cli, recorded):
        run_id = recorded["runs"]["beta"]
        done = cli("show", run_id[:-1], "--store", recorded["store"])
        assert done.code == 2
        assert (
            f"mlpipe: error: No run {run_id[:-1]!r} in the metadata store" in done.err
        )
        assert f"Did you mean {run_id!r}?" in done.err
        assert "List the runs with `mlpipe runs`." in done.err

    @pytest.mark.parametrize(
        "command", [["show"], ["lineage"], ["lineage", "--downstream"]]
    )
    def test_unknown_artifact_id(self, cli, recorded, command):
        done = cli(*command, "9999", "--store", recorded["store"])
        assert done.code == 2
        assert (
            f"mlpipe: error: No artifact with id 9999 in {recorded['store']}."
            in done.err
        )
        assert done.out == ""

    def test_argument_errors(self, pipelines):
        path, store = pipelines
        for args, message in [
            (["runs", "--limit", "0"], "argument --limit: must be at least 1, got 0"),
            (
                ["run", path, "--parallelism", "0"],
                "argument --parallelism: must be at least 1",
            ),
            (["lineage", "model"], "argument artifact_id: invalid int value: 'model'"),
        ]:
            done = _mlpipe(*args, "--store", store)
            assert done.code == 2, args
            assert message in done.err


class TestQueries:
    def test_runs_newest_first_with_state_and_duration(self, cli, recorded):
        done = cli("runs", "--store", recorded["store"])
        assert done.code == 0
        lines = done.out.splitlines()
        assert lines[0].split() == ["RUN", "PIPELINE", "STATE", "STARTED", "DURATION"]
        rows = [line.split() for line in lines[1:]]
        ids = recorded["runs"]
        assert [row[0] for row in rows] == [
            ids["failing"],
            ids["beta"],
            ids["alpha2"],
            ids["alpha1"],
        ]
        assert [row[1:3] for row in rows] == [
            ["failing", "FAILED"],
            ["beta", "COMPLETE"],
            ["alpha", "COMPLETE"],
            ["alpha", "COMPLETE"],
        ]
        assert all(re.fullmatch(r"\d+\.\d\ds", row[-1]) for row in rows)

    def test_runs_filter_limit_and_json(self, cli, recorded):
        store, ids = recorded["store"], recorded["runs"]
        alpha = cli("runs", "--pipeline", "alpha", "--store", store)
        assert [line.split()[0] for line in alpha.out.splitlines()[1:]] == [
            ids["alpha2"],
            ids["alpha1"],
        ]
        newest = cli("runs", "--limit", "1", "--store", store)
        assert [line.split()[0] for line in newest.out.splitlines()[1:]] == [
            ids["failing"]
        ]
        none = cli("runs", "--pipeline", "gamma", "--store", store)
        assert none.code == 0
        assert none.out.startswith("No runs of pipeline 'gamma' recorded in sqlite:///")

        listed = json.loads(cli("runs", "--json", "--limit", "2", "--store", store).out)
        assert [r["run_id"] for r in listed] == [ids["failing"], ids["beta"]]
        assert set(listed[0]) == {
            "run_id",
            "pipeline",
            "state",
            "start_time",
            "end_time",
            "duration",
            "properties",
        }
        assert listed[0]["state"] == "FAILED"
        assert listed[1]["properties"] == {"root": str(recorded["root"] / "beta")}
        assert listed[1]["duration"] == pytest.approx(
            listed[1]["end_time"] - listed[1]["start_time"]
        )

    def test_store_option_before_or_after_the_command(self, cli, recorded):
        after = cli("runs", "--store", recorded["store"])
        before = cli("--store", recorded["store"], "runs")
        assert after.code == before.code == 0
        assert after.out == before.out

    def test_show_latest_and_json(self, cli, recorded):
        store, run_id = recorded["store"], recorded["runs"]["failing"]
        latest = cli("show", "latest", "--store", store)
        assert latest.code == 0
        assert latest.out == cli("show", run_id, "--store", store).out
        assert f"Run {run_id} of pipeline 'failing': FAILED" in latest.out
        assert f"Root: {recorded['root'] / 'failing'}" in latest.out

        data = json.loads(cli("show", "latest", "--json", "--store", store).out)
        assert data["run_id"] == run_id
        assert [(e["component_id"], e["state"]) for e in data["executions"]] == [
            ("make_rows", "COMPLETE"),
            ("parse_rows", "FAILED"),
            ("use_parsed", "SKIPPED"),
        ]
        assert data["executions"][0]["outputs"]["rows"]["type"] == "Examples"
        assert "ValueError: row 2 is not a number" in data["executions"][1]["error"]

    def test_show_run_marks_cached_executions(self, cli, recorded):
        done = cli("show", recorded["runs"]["alpha2"], "--store", recorded["store"])
        assert re.search(
            r"^bless_model\s+bless_model\s+CACHED\s.*reused execution \d+$",
            done.out,
            re.M,
        )
        assert re.search(
            r"^fit_total\s+fit_total\s+CACHED\s.*\{\"total\": 3\}", done.out, re.M
        )

    def test_show_artifact(self, cli, recorded):
        store, ids = recorded["store"], recorded["runs"]
        model_id, _, _, model_uri = recorded["artifacts"]["fit_total.model"]
        done = cli("show", model_id, "--store", store)
        assert done.code == 0
        lines = done.out.splitlines()
        assert lines[0] == f"Model #{model_id}  LIVE"
        assert lines[1] == f"  uri: {model_uri}"
        assert re.search(
            rf"produced by: fit_total \(execution \d+, fit_total, COMPLETE, run {ids['alpha1']}\)",
            done.out,
        )
        assert re.search(
            rf"read by: bless_model \(execution \d+, COMPLETE, run {ids['alpha1']}\)",
            done.out,
        )
        assert re.search(
            rf"read by: bless_model \(execution \d+, CACHED, run {ids['alpha2']}\)",
            done.out,
        )

        rows_id = recorded["artifacts"]["make_rows.rows"][0]
        rows = cli("show", rows_id, "--store", store).out
        assert '  row_counts: {"all": 3}' in rows.splitlines()
        blessing_id = recorded["artifacts"]["bless_model.blessing"][0]
        blessing = cli("show", blessing_id, "--store", store).out
        assert "  blessed: true" in blessing.splitlines()
        assert '  reasons: ["always"]' in blessing.splitlines()
        assert "  read by: nothing yet" in blessing.splitlines()

        data = json.loads(cli("show", model_id, "--json", "--store", store).out)
        assert (data["id"], data["type"], data["state"], data["uri"]) == (
            model_id,
            "Model",
            "LIVE",
            model_uri,
        )
        assert data["producer"]["component_id"] == "fit_total"
        assert [(c["component_id"], c["state"]) for c in data["consumers"]] == [
            ("bless_model", "COMPLETE"),
            ("bless_model", "CACHED"),
        ]

    def test_lineage_upstream_and_downstream(self, cli, recorded):
        store, artifacts = recorded["store"], recorded["artifacts"]
        rows_id, blessing_id = (
            artifacts["make_rows.rows"][0],
            artifacts["bless_model.blessing"][0],
        )
        model_id = artifacts["fit_total.model"][0]

        up = cli("lineage", blessing_id, "--store", store)
        assert up.code == 0
        lines = up.out.splitlines()
        assert lines[0].startswith(f"ModelBlessing #{blessing_id} ")
        assert re.search(
            r"← bless_model \(execution \d+, bless_model, code \w+\)", up.out
        )
        assert f"model: Model #{model_id} " in up.out
        assert "← fit_total (execution" in up.out
        assert f"rows: Examples #{rows_id} " in up.out
        assert "← make_rows (execution" in up.out

        down = cli("lineage", rows_id, "--downstream", "--store", store)
        assert down.code == 0
        assert down.out.splitlines()[0].startswith(f"Examples #{rows_id} ")
        assert re.search(
            r"→ fit_total \(execution \d+, fit_total, code \w+\) as rows", down.out
        )
        assert f"model: Model #{model_id} " in down.out
        assert "→ bless_model (execution" in down.out
        assert f"blessing: ModelBlessing #{blessing_id} " in down.out
        assert "parse_rows" not in down.out

        data = json.loads(cli("lineage", blessing_id, "--json", "--store", store).out)
        assert (data["root"], data["direction"]) == (blessing_id, "upstream")
        assert {a["id"] for a in data["artifacts"]} == {rows_id, model_id, blessing_id}
        assert sorted(e["component_id"] for e in data["executions"]) == [
            "bless_model",
            "fit_total",
            "make_rows",
        ]
        assert {"from", "to", "path"} <= set(data["edges"][0])
        down_data = json.loads(
            cli("lineage", rows_id, "--downstream", "--json", "--store", store).out
        )
        assert down_data["direction"] == "downstream"

    def test_lineage_shows_failed_executions_and_abandoned_outputs(self, cli, recorded):
        rows_id = recorded["failing_artifacts"]["make_rows.rows"][0]
        parsed_id = recorded["failing_artifacts"]["parse_rows.parsed"][0]
        down = cli("lineage", rows_id, "--downstream", "--store", recorded["store"])
        assert re.search(
            r"→ parse_rows \(execution \d+, parse_rows, code \w+, FAILED\) as rows",
            down.out,
        )
        assert re.search(
            rf"parsed: Examples #{parsed_id} \S+ \[ABANDONED\]$", down.out, re.M
        )
        assert "use_parsed" not in down.out


class TestComponents:
    def test_plugins_from_the_entry_point_group_are_listed(self, tmp_path):
        (tmp_path / "shout_plugin.py").write_text(
            textwrap.dedent(
                """
                from pipeline import Artifact, Output, component

                @component
                def shout(out: Output[Artifact], word: str = "hey"):
                    \"\"\"Writes a word loudly.\"\"\"
                """
            )
        )
        info = tmp_path / "shout_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1\n"
        )
        (info / "entry_points.txt").write_text(
            "[mlpipe.components]\nshout = shout_plugin:shout\nbroken = no_such_module:thing\n"
        )
        done = _mlpipe("components", env={"PYTHONPATH": str(tmp_path)})
        assert done.code == 0, done.err
        assert "shout  (entry point shout_plugin:shout)\n" in done.out
        assert "StatisticsGen  (built-in)\n" in done.out
        assert "Skipping plugin 'broken' (no_such_module:thing)" in done.err
        assert "ModuleNotFoundError" in done.err

    def test_built_ins_are_listed_without_importing_them(self):
        done = _mlpipe("components")
        assert done.code == 0
        lines = done.out.splitlines()
        assert "SchemaGen  (built-in)" in lines
        assert lines == sorted(lines)
