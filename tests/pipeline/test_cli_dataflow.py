"""``mlpipe run --runner dataflow``: its flags, checked before anything runs.

Every refused option must stop the run before the store is opened or a component
starts, with a message that says what is wrong and how to fix it; the run then exits
with status 2. ``prepare_dataflow`` (what the command does with valid options) is
tested directly: the worker package it writes and the Beam options it adds. The
translation of real components' jobs with these options is in
tests/components/test_dataflow_translation.py.
"""

import json
import logging
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from pipeline import DefinitionError, Pipeline, load_pipeline
from pipeline.cli import main
from pipeline.runners import dataflow_options
from pipeline.runners.dataflow_options import (
    check_dataflow_args,
    dataflow_args,
    is_dataflow,
    make_job_name,
    parse_beam_args,
    prepare_dataflow,
    write_worker_package,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "apache_beam", "tensorflow_transform")
GOOD = [
    "--runner",
    "dataflow",
    "--project",
    "my-project-123",
    "--region",
    "us-central1",
    "--temp-location",
    "gs://my-bucket/tmp",
]

PIPELINE = '''
from pipeline import Examples, ModuleFile, InputPath, Output, Parameter, Pipeline, component


@component
def read_rows(
    rows: Output[Examples],
    source: Parameter[InputPath] = {source!r},
    module_file: Parameter[ModuleFile] = {module!r},
):
    """Would read rows with the user's module."""
    raise AssertionError("no component may run when the options are refused")


def create_pipeline(root={root!r}):
    return Pipeline("rows", [read_rows()], root=root, beam_pipeline_args={args!r})
'''


def write_pipeline(folder: pathlib.Path, *, root, args=(), source="gs://b/rows.csv"):
    """A pipeline file whose component has a module file and an input path."""
    folder.mkdir(parents=True, exist_ok=True)
    module = folder / "user_module.py"
    module.write_text("def preprocessing_fn(inputs):\n    return inputs\n")
    (folder / "neighbour.py").write_text("VALUE = 1\n")
    path = folder / "rows_pipeline.py"
    path.write_text(
        PIPELINE.format(
            root=str(root), args=list(args), source=source, module=str(module)
        )
    )
    return path


@pytest.fixture
def pipeline_file(tmp_path):
    return write_pipeline(tmp_path / "project", root=tmp_path / "runs")


@pytest.fixture
def mlpipe(capsys, tmp_path, mlpipe_home):
    """Runs ``mlpipe ARGS`` in this process: (exit status, stderr)."""

    def call(*args):
        code = main([str(a) for a in args])
        _, err = capsys.readouterr()
        # Refused before the store was opened: no store file, no root folder.
        assert not (mlpipe_home / "metadata.sqlite").exists()
        assert not (tmp_path / "runs").exists()
        return code, err

    return call


def refused(mlpipe, *args) -> str:
    code, err = mlpipe("run", *args)
    assert code == 2, err
    assert err.startswith("mlpipe: error: "), err
    return err.removeprefix("mlpipe: error: ").strip()


def without(flag: str) -> list[str]:
    i = GOOD.index(flag)
    return GOOD[:i] + GOOD[i + 2 :]


def replaced(flag: str, value: str) -> list[str]:
    i = GOOD.index(flag)
    return [*GOOD[: i + 1], value, *GOOD[i + 2 :]]


class TestRefusedFlags:
    def test_no_project(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *without("--project"))
        assert message == (
            "Dataflow (pipeline 'rows'): no Google Cloud project given. Pass the "
            "project id as --project PROJECT_ID (Beam option --project=PROJECT_ID); "
            "`gcloud projects list` shows yours."
        )

    def test_no_region(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *without("--region"))
        assert "no region given. Pass the region the jobs run in as --region" in message
        assert "e.g. --region us-central1" in message

    def test_no_temp_location(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *without("--temp-location"))
        assert "no temp location given" in message
        assert "--temp-location gs://BUCKET/tmp" in message

    @pytest.mark.parametrize(
        ("project", "reason"),
        [
            ("My-Project", "it has upper-case letters"),
            ("123456789012", "it is a project number; pass the project id"),
            ("abc", "it has 3 characters"),
            ("9lives-project", "it does not start with a letter"),
            ("my-project-", "it ends with a hyphen"),
            ("my_project", "it has characters other than lower-case letters"),
        ],
    )
    def test_invalid_project_id(self, mlpipe, pipeline_file, project, reason):
        message = refused(mlpipe, pipeline_file, *replaced("--project", project))
        assert message.startswith(
            f"Dataflow (pipeline 'rows'): the project id {project!r} is not valid: "
            f"{reason}"
        ), message
        assert "pass it as --project PROJECT_ID" in message

    def test_a_zone_is_not_a_region(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *replaced("--region", "us-central1-a"))
        assert "'us-central1-a' is not a Dataflow region name" in message
        assert "not a zone" in message

    def test_a_local_temp_location(self, mlpipe, pipeline_file, tmp_path):
        local = str(tmp_path / "tmp")
        message = refused(mlpipe, pipeline_file, *replaced("--temp-location", local))
        assert message == (
            f"Dataflow (pipeline 'rows'): the temp location {local!r} is not a Cloud "
            f"Storage URL. The Dataflow service and its workers reach only Cloud "
            f"Storage: pass --temp-location gs://BUCKET/tmp (create the bucket with "
            f"`gcloud storage buckets create gs://BUCKET --location REGION`)."
        )

    @pytest.mark.parametrize(
        ("location", "reason"),
        [
            ("gs://My_Bucket/tmp", "it has upper-case letters"),
            ("gs://ab/tmp", "it has 2 characters"),
            ("gs://-bucket/tmp", "it must start and end with a letter or digit"),
            (
                "gs://google-data/tmp",
                "it may not start with 'goog' or contain 'google'",
            ),
            ("gs://192.168.1.1/tmp", "it looks like an IP address"),
        ],
    )
    def test_an_invalid_bucket_name(self, mlpipe, pipeline_file, location, reason):
        message = refused(mlpipe, pipeline_file, *replaced("--temp-location", location))
        bucket = location[5:].split("/")[0]
        assert (
            f"the bucket name {bucket!r} in the temp location {location!r} is not "
            f"valid: {reason}"
        ) in message
        assert "https://cloud.google.com/storage/docs/buckets#naming" in message

    def test_a_bucket_without_a_folder(self, mlpipe, pipeline_file):
        message = refused(
            mlpipe, pipeline_file, *replaced("--temp-location", "gs://my-bucket")
        )
        assert message.endswith(
            "the temp location 'gs://my-bucket' names a bucket but no folder in it; "
            "pass --temp-location gs://my-bucket/tmp."
        )

    def test_a_local_staging_location(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *GOOD, "--staging-location", "staging")
        assert "the staging location 'staging' is not a Cloud Storage URL" in message
        assert "pass --staging-location gs://BUCKET/staging" in message

    def test_a_service_account_that_is_not_an_email(self, mlpipe, pipeline_file):
        message = refused(
            mlpipe, pipeline_file, *GOOD, "--service-account-email", "runner"
        )
        assert "the service account 'runner' is not an email address" in message

    def test_dataflow_flags_without_the_dataflow_runner(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, "--project", "my-project-123")
        assert message == (
            "--project is for Dataflow, but the components' Beam jobs run locally (the "
            "default). Add --runner dataflow, or leave --project out."
        )
        message = refused(
            mlpipe, pipeline_file, "--runner", "local", "--region", "us-central1",
            "--temp-location", "gs://my-bucket/tmp",
        )  # fmt: skip
        assert message.startswith(
            "--region, --temp-location are for Dataflow, but the components' Beam "
            "jobs run locally."
        )

    def test_an_unknown_runner(self, capsys, pipeline_file):
        with pytest.raises(SystemExit) as exit_:
            main(["run", str(pipeline_file), "--runner", "flink"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "expected 'local' or 'dataflow', got 'flink'" in err
        assert "--beam-arg=--runner=NAME" in err

    def test_a_local_pipeline_root(self, mlpipe, pipeline_file, tmp_path):
        # Every option is valid: the root is what is refused.
        message = refused(mlpipe, pipeline_file, *GOOD)
        assert message == (
            f"Dataflow (pipeline 'rows'): the pipeline root {tmp_path / 'runs'} is a "
            f"local folder, but the Dataflow workers write the artifacts. Use a Cloud "
            f"Storage folder: --root gs://BUCKET/pipelines/rows (or Pipeline(root=...))."
        )

    def test_runner_names_beam_spells(self, mlpipe, pipeline_file):
        args = replaced("--runner", "DataflowRunner")
        message = refused(mlpipe, pipeline_file, *args)
        assert "is a local folder, but the Dataflow workers" in message


class TestThroughBeamArgs:
    """The same checks when Beam options choose DataflowRunner."""

    def test_beam_args_are_checked_alike(self, mlpipe, pipeline_file):
        message = refused(
            mlpipe,
            pipeline_file,
            "--beam-arg=--runner=DataflowRunner",
            "--beam-arg=--project=my-project-123",
            "--beam-arg",
            "--temp_location=gs://my-bucket/tmp",
        )
        assert "no region given" in message

    def test_the_pipelines_own_options(self, mlpipe, tmp_path):
        path = write_pipeline(
            tmp_path / "project",
            root=tmp_path / "runs",
            args=["--runner=DataflowRunner", "--project=my-project-123"],
        )
        # The pipeline chooses Dataflow, so the flags are welcome.
        message = refused(mlpipe, path, "--region", "us-central1")
        assert "no temp location given" in message
        message = refused(
            mlpipe, path, "--region", "us-central1", "--temp-location", "gs://b-1/t"
        )
        assert "is a local folder, but the Dataflow workers" in message

    def test_dry_run_false_is_refused(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *GOOD, "--beam-arg=--dry_run=False")
        assert message.endswith(
            "--dry_run=False would still make Beam do a dry run (it takes any value "
            "as true). Write --dry_run=True to translate the jobs without submitting "
            "them, or leave the option out."
        )

    def test_a_bad_job_name(self, mlpipe, pipeline_file):
        message = refused(mlpipe, pipeline_file, *GOOD, "--beam-arg=--job_name=Taxi_1")
        assert "the job name 'Taxi_1' is not valid" in message
        assert "e.g. 'taxi-1'" in message

    def test_a_missing_setup_file(self, mlpipe, pipeline_file, tmp_path):
        missing = tmp_path / "setup.py"
        message = refused(
            mlpipe, pipeline_file, *GOOD, f"--beam-arg=--setup_file={missing}"
        )
        assert (
            f"the setup file {str(missing)!r} (--setup_file) does not exist" in message
        )

    def test_a_missing_extra_package(self, mlpipe, pipeline_file):
        message = refused(
            mlpipe, pipeline_file, *GOOD, "--beam-arg=--extra_package=dist/x.tar.gz"
        )
        assert "the extra package 'dist/x.tar.gz' (--extra_package) does not" in message


def test_refusing_imports_neither_tensorflow_nor_beam(pipeline_file):
    script = textwrap.dedent(
        """
        import json, sys
        from pipeline.cli import main
        code = main(json.loads(sys.argv[1]))
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])
        print(json.dumps({"code": code, "heavy": heavy}))
        """
    )
    argv = ["run", str(pipeline_file), *replaced("--project", "My-Project")]
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argv), *HEAVY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"code": 2, "heavy": []}, done.stderr
    assert "the project id 'My-Project' is not valid" in done.stderr


def test_help_lists_the_dataflow_flags(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--runner {local,dataflow}",
        "--project PROJECT",
        "--region REGION",
        "--temp-location GS_URL",
        "--staging-location GS_URL",
        "--service-account-email EMAIL",
    ):
        assert flag in out, out


# ------------------------------------------------------------- prepare_dataflow


def gcs_pipeline(tmp_path, **kwargs) -> Pipeline:
    path = write_pipeline(tmp_path, root="gs://my-bucket/pipelines/rows", **kwargs)
    return load_pipeline(str(path))


DATAFLOW = dataflow_args(
    project="my-project-123", region="us-central1", temp_location="gs://my-bucket/tmp"
)


class TestPrepareDataflow:
    def test_the_worker_package(self, tmp_path):
        launch = prepare_dataflow(gcs_pipeline(tmp_path), DATAFLOW)
        try:
            setup = pathlib.Path(launch.folder, "package", "setup.py")
            assert launch.beam_args == [
                "--sdk_location=container",
                f"--setup_file={setup}",
            ]
            package = setup.parent
            for name in ("pipeline/cli.py", "components/dataflow.py"):
                assert (package / name).is_file(), name
            assert not list(package.rglob("__pycache__"))
            user = package / "mlpipe_user_files"
            assert sorted(p.name for p in user.glob("m0/*.py")) == [
                "__init__.py",
                "neighbour.py",
                "rows_pipeline.py",
                "user_module.py",
            ]
            manifest = {}
            exec((user / "__init__.py").read_text(), manifest)
            assert manifest["FILES"] == {
                str(tmp_path / "user_module.py"): "m0/user_module.py"
            }
            source = setup.read_text()
            assert "'mlpipe_user_files.m0'" in source
            assert "'components.evaluator'" in source
            for requirement in dataflow_options.worker_requirements():
                assert repr(requirement) in source
            assert any(
                r.startswith("apache-beam[gcp]==2.77.")
                for r in dataflow_options.worker_requirements()
            )
        finally:
            launch.cleanup()
        assert not pathlib.Path(setup).exists()

    def test_nothing_for_local_runs(self, tmp_path):
        assert (
            prepare_dataflow(gcs_pipeline(tmp_path), ["--direct_num_workers=2"]) is None
        )

    def test_a_given_setup_file_and_sdk_location_are_kept(self, tmp_path):
        setup = write_worker_package(str(tmp_path / "mine"))
        launch = prepare_dataflow(
            gcs_pipeline(tmp_path),
            [*DATAFLOW, f"--setup_file={setup}", "--sdk_location=default"],
        )
        assert launch.beam_args == [] and launch.folder is None

    def test_one_component_on_dataflow_is_checked_by_name(self, tmp_path):
        pipeline = gcs_pipeline(tmp_path)
        pipeline.components[0].with_beam_args(["--runner=DataflowRunner"])
        with pytest.raises(DefinitionError, match=re.escape(
            "Dataflow (component 'read_rows'): no Google Cloud project given."
        )):  # fmt: skip
            prepare_dataflow(pipeline)

    def test_local_inputs_are_warned_about(self, tmp_path, caplog):
        pipeline = gcs_pipeline(tmp_path, source="data/rows.csv")
        with caplog.at_level(logging.WARNING, logger="mlpipe"):
            prepare_dataflow(pipeline, DATAFLOW).cleanup()
        assert (
            "component 'read_rows' reads source='data/rows.csv', a path on this "
            "machine; if its Beam job reads it (every ExampleGen's does), the "
            "Dataflow workers cannot."
        ) in caplog.text

    def test_a_missing_module_file(self, tmp_path):
        pipeline = gcs_pipeline(tmp_path)
        (tmp_path / "user_module.py").unlink()
        with pytest.raises(DefinitionError, match="the module file .* does not exist"):
            prepare_dataflow(pipeline, DATAFLOW)


class TestOptions:
    def test_dataflow_args(self):
        assert dataflow_args(
            project="p-123456",
            region="europe-west4",
            temp_location="gs://b-1/tmp/",
            service_account_email="runner@p-123456.iam.gserviceaccount.com",
            job_name="nightly",
        ) == [
            "--runner=DataflowRunner",
            "--project=p-123456",
            "--region=europe-west4",
            "--temp_location=gs://b-1/tmp/",
            "--staging_location=gs://b-1/tmp/staging",
            "--service_account_email=runner@p-123456.iam.gserviceaccount.com",
            "--job_name=nightly",
        ]

    @pytest.mark.parametrize(
        "runner",
        ["DataflowRunner", "dataflow", "Dataflow", "TestDataflowRunner",
         "apache_beam.runners.dataflow.dataflow_runner.DataflowRunner"],
    )  # fmt: skip
    def test_every_spelling_of_the_runner(self, runner):
        assert is_dataflow(["--runner", runner])

    def test_the_last_runner_wins(self):
        assert not is_dataflow(["--runner=DataflowRunner", "--runner=FnApiRunner"])

    def test_parse_beam_args(self):
        assert parse_beam_args(
            ["--extra_package=a.whl", "--extra_packages", "b.whl,c.whl", "--no_auth"]
        ) == {"extra_packages": ["a.whl", "b.whl", "c.whl"], "no_auth": True}

    def test_domain_scoped_project_ids_are_valid(self):
        check_dataflow_args([*DATAFLOW[:1], "--project=example.com:my-project",
                             *DATAFLOW[2:]])  # fmt: skip

    def test_job_names(self):
        assert re.fullmatch(
            r"rows-read-rows-\d{8}-\d{6}-[0-9a-f]{4}", make_job_name("rows-read_rows")
        )
        assert make_job_name("9 Lives", stamp=False) == "mlpipe-9-lives"
