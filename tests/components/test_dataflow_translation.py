"""Every data component's Beam job, translated for Dataflow offline.

Each test calls a component's function on tiny real local files with the options of
an offline translation: DataflowRunner with ``--dry_run=True --no_auth
--sdk_location=container``, a made-up project and made-up ``gs://`` locations. The
component runs for real up to its Beam job (inputs listed, headers read, the
preprocessing function traced); Beam then validates the options, builds the worker
package's sdist, pickles every DoFn and translates the pipeline to the proto Dataflow
would get, and submits nothing: the job's ``run()`` raises ``DataflowDryRun`` with the
``Translation``, which the tests check. No network, no credentials.

The worker package is the one ``mlpipe run --runner dataflow`` makes:
``prepare_dataflow`` over a pipeline of the same components, so the user's module
files (Transform's preprocessing module, the Evaluator's metrics module) must be in
it.
"""

import json
import os
import pathlib
import re
import sys
import tarfile
import tempfile
import textwrap

import apache_beam
import pytest

from components import (
    CsvExampleGen,
    Evaluator,
    ImportExampleGen,
    ParquetExampleGen,
    SchemaGen,
    StatisticsGen,
    Transform,
)
from pipeline import (
    DefinitionError,
    Examples,
    ExampleStatistics,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Output,
    Pipeline,
    TransformGraph,
    component,
)
from pipeline.runners.dataflow_options import prepare_dataflow, worker_requirements
from tests.components.conftest import TAXI_MODULE, taxi_kinds, write_schema_artifact
from tests.components.test_statistics_gen import (
    column_kinds,
    make_context,
    taxi_split,
    write_examples,
)

beam = pytest.importorskip(
    "apache_beam.runners.dataflow.dataflow_runner",
    reason="DataflowRunner needs apache-beam[gcp]: pip install -e '.[dataflow]'",
)

from components.dataflow import (  # noqa: E402 - after the skip above
    DRY_RUN_ARGS,
    DataflowDryRun,
    Translation,
    translate,
    worker_path,
)

PROJECT = "mlpipe-offline-check"
REGION = "europe-west4"
TEMP = "gs://mlpipe-offline-bucket/dataflow/tmp"
DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
TITANIC = DATA / "titanic" / "train.csv"

METRICS_MODULE = """
import numpy as np

from metrics_helpers import weighted_share


def share_survived(labels, predictions, weights):
    return weighted_share(np.asarray(labels) == 1, weights)
"""
METRICS_HELPERS = """
import numpy as np


def weighted_share(mask, weights):
    weights = np.asarray(weights, dtype=float)
    return float((mask * weights).sum() / weights.sum())
"""


@component
def make_model(model: Output[Model]):
    """Stands in for a Trainer in the pipeline that is packaged."""


@pytest.fixture(scope="module")
def metrics_module(tmp_path_factory) -> pathlib.Path:
    """A user metrics module that imports a neighbour."""
    folder = tmp_path_factory.mktemp("user_metrics")
    (folder / "metrics_helpers.py").write_text(METRICS_HELPERS)
    path = folder / "survival_metrics.py"
    path.write_text(METRICS_MODULE)
    return path


@pytest.fixture(scope="module")
def launch(metrics_module):
    """What ``mlpipe run --runner dataflow`` adds: the worker package of a pipeline
    with these components and their module files."""
    gen = CsvExampleGen(input_base="gs://mlpipe-offline-bucket/data/titanic.csv")
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=str(TAXI_MODULE),
    )
    model = make_model()
    evaluator = Evaluator(
        examples=gen.outputs["examples"],
        model=model.outputs["model"],
        metrics_module=str(metrics_module),
    )
    pipeline = Pipeline(
        "offline",
        [gen, stats, schema, transform, model, evaluator],
        root="gs://mlpipe-offline-bucket/pipelines/offline",
        beam_pipeline_args=[f"--project={PROJECT}", f"--region={REGION}"],
    )
    found = prepare_dataflow(
        pipeline, ["--runner=DataflowRunner", f"--temp_location={TEMP}"]
    )
    yield found
    found.cleanup()


@pytest.fixture
def dry_args(launch) -> list[str]:
    return [
        *DRY_RUN_ARGS,
        f"--project={PROJECT}",
        f"--region={REGION}",
        f"--temp_location={TEMP}",
        *launch.beam_args,
    ]


@pytest.fixture(autouse=True)
def beam_scratch(tmp_path, monkeypatch):
    """Beam builds the sdist in a new temporary folder per job; keep them here."""
    scratch = tmp_path / "beam_scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


def translated(run) -> Translation:
    """The translation of the one Beam job that ``run()`` builds."""
    with pytest.raises(DataflowDryRun) as caught:
        run()
    return caught.value.translation


def check_translation(
    translation: Translation, launch, *, label: str, steps: list[str], code: str
) -> None:
    """What every component's translation must show.

    Args:
        label: The start of the job name (``<pipeline>-<component id>``).
        steps: Transform names the job must have.
        code: The module (``components/...``) whose DoFns the job pickles.
    """
    names = translation.transform_names()
    missing = [step for step in steps if step not in names]
    assert not missing, f"steps {missing} not in {names}"

    # The options reached Beam as given, with mlpipe's defaults.
    assert translation.option("runner") == "DataflowRunner"
    assert translation.option("project") == PROJECT
    assert translation.option("region") == REGION
    assert translation.option("temp_location") == TEMP
    assert translation.option("staging_location") == TEMP + "/staging"
    assert translation.option("sdk_location") == "container"
    # The workers' SDK: the default container of this Python and Beam version.
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert translation.container_images() == [
        f"gcr.io/cloud-dataflow/v1beta3/beam_python{python}_sdk:{apache_beam.__version__}"
    ]
    job_name = translation.option("job_name")
    assert re.fullmatch(rf"{label}-\d{{8}}-\d{{6}}-[0-9a-f]{{4}}", job_name), job_name
    assert translation.job.proto.name == job_name

    # The workers get the generated package: mlpipe's code, the user's module
    # files, and mlpipe's dependencies at this machine's versions.
    setup_file = next(a for a in launch.beam_args if a.startswith("--setup_file="))
    assert translation.option("setup_file") == setup_file.partition("=")[2]
    staged = translation.staged_files()
    assert "workflow.tar.gz" in staged, staged
    files = translation.package_files()
    assert code.replace(".", "/") + ".py" in files
    assert "pipeline/fs.py" in files
    assert "mlpipe_user_files/__init__.py" in files
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        setup = next(m for m in sdist.getmembers() if m.name.endswith("/setup.py"))
        source = sdist.extractfile(setup).read().decode()
    for requirement in worker_requirements():
        assert repr(requirement) in source
    assert f"'=={sys.version_info.major}.{sys.version_info.minor}.*'" in source

    # Everything the DoFns pickle by name is installed on the workers.
    assert translation.unshipped_modules() == {}
    assert any(code in modules for modules in translation.pickled_modules().values())


def test_csv_example_gen(tmp_path, dry_args, launch):
    examples = Examples(uri=str(tmp_path / "examples"))
    pathlib.Path(examples.uri).mkdir()
    context = make_context("csv_gen", tmp_path)
    context.beam_pipeline_args = dry_args
    translation = translated(
        lambda: CsvExampleGen.fn(
            examples=examples, input_base=str(TITANIC), context=context
        )
    )
    check_translation(
        translation,
        launch,
        label="test-csv-gen",
        steps=["Files", "Blocks", "Survey", "MergeSurveys", "Write", "Total", "Save"],
        code="components.example_gen.write",
    )
    # Nothing ran: no shard and no summary were written.
    assert not list(pathlib.Path(examples.uri).rglob("*.gz"))
    assert not list(pathlib.Path(examples.uri).rglob("summary.json"))


def test_parquet_and_import_example_gen(tmp_path, dry_args, launch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3], "name": ["a", "b", "c"]}), parquet)
    records = write_examples(
        tmp_path / "records", {"train": [{"x": "1"}, {"x": "2"}]}, {"x": "int"}
    )
    for gen, input_base, label in (
        (ParquetExampleGen, str(parquet), "test-parquet-gen"),
        (ImportExampleGen, records.split_uri("train"), "test-import-gen"),
    ):
        examples = Examples(uri=str(tmp_path / label))
        pathlib.Path(examples.uri).mkdir()
        context = make_context(label.removeprefix("test-"), tmp_path)
        context.beam_pipeline_args = dry_args
        translation = translated(
            lambda gen=gen, input_base=input_base, examples=examples, context=context: (
                gen.fn(examples=examples, input_base=input_base, context=context)
            )
        )
        check_translation(
            translation,
            launch,
            label=label,
            steps=["Files", "Blocks", "Write", "Total", "Save"],
            code="components.example_gen.write",
        )


def test_statistics_gen(tmp_path, dry_args, launch):
    rows = taxi_split("train")[:40]
    examples = write_examples(
        tmp_path / "examples", {"train": rows, "eval": rows[:10]}, column_kinds(rows)
    )
    statistics = ExampleStatistics(uri=str(tmp_path / "statistics"))
    context = make_context("stats", tmp_path)
    context.beam_pipeline_args = dry_args
    translation = translated(
        lambda: StatisticsGen.fn(
            examples=examples, statistics=statistics, context=context
        )
    )
    check_translation(
        translation,
        launch,
        label="test-stats",
        steps=[
            f"{step}[{split}]"
            for split in ("train", "eval")
            for step in ("Read", "Batch", "Decode", "Combine", "Write")
        ],
        code="components.stats.combiner",
    )
    assert not pathlib.Path(statistics.uri).exists()


@pytest.mark.slow  # tracing preprocessing_fn: 5 s, 15 s when first to import tft
def test_transform(tmp_path, dry_args, launch):
    rows = {
        split: [dict(r, row_id=str(i)) for i, r in enumerate(taxi_split(split)[:60])]
        for split in ("train", "eval")
    }
    examples = write_examples(tmp_path / "examples", rows, taxi_kinds())
    schema = write_schema_artifact(tmp_path / "schema", rows["train"], taxi_kinds())
    graph = TransformGraph(uri=str(tmp_path / "transform_graph"))
    transformed = Examples(uri=str(tmp_path / "transformed"))
    context = make_context("transform", tmp_path)
    context.beam_pipeline_args = dry_args
    translation = translated(
        lambda: Transform.fn(
            examples=examples,
            schema=schema,
            module_file=str(TAXI_MODULE),
            transform_graph=graph,
            transformed_examples=transformed,
            context=context,
        )
    )
    check_translation(
        translation,
        launch,
        label="test-transform",
        steps=[
            "Read[train]",
            "Read[eval]",
            "Analyze",
            "WriteTransformFn",
            "Transform[train]",
            "Transform[eval]",
            "Encode[eval]",
            "Write[eval]",
        ],
        code="components.transform.job",
    )
    # The user's preprocessing module travels with the workers' package, although
    # tensorflow-transform needs only the graph it traced.
    files = translation.package_files()
    assert any(f.endswith("/taxi_module.py") for f in files), files
    assert not pathlib.Path(graph.uri, "transform_fn").exists()


def test_evaluator(tmp_path, dry_args, launch, metrics_module, monkeypatch):
    from tests.components.evaluator.conftest import save_titanic_model, titanic_rows

    rows = titanic_rows()[:50]
    examples = write_examples(tmp_path / "examples", {"eval": rows}, column_kinds(rows))
    model = save_titanic_model(tmp_path / "model")
    evaluation = ModelEvaluation(uri=str(tmp_path / "evaluation"))
    blessing = ModelBlessing(uri=str(tmp_path / "blessing"))
    context = make_context("evaluator", tmp_path)
    context.log = context.log.getChild("evaluator")
    context.beam_pipeline_args = dry_args
    translation = translated(
        lambda: Evaluator.fn(
            examples=examples,
            model=model,
            evaluation=evaluation,
            blessing=blessing,
            baseline_model=None,
            slicing_specs=[["Sex"]],
            metrics_module=str(metrics_module),
            context=context,
        )
    )
    check_translation(
        translation,
        launch,
        label="evaluator",
        steps=["Read", "Batch", "Evaluate", "Combine", "Compute", "WriteMetrics"],
        code="components.evaluator.job",
    )
    assert not pathlib.Path(evaluation.uri, "metrics.json").exists()

    # On a worker, the metrics module (and the neighbour it imports) comes from the
    # package: unpack it, hide the launcher's copy, and load the metrics from there.
    from components.evaluator import user_metrics

    unpacked = tmp_path / "worker"
    with tarfile.open(translation.staged_files()["workflow.tar.gz"]) as sdist:
        sdist.extractall(unpacked, filter="data")
    (package,) = unpacked.iterdir()
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "mlpipe_user_files", raising=False)
    hidden = metrics_module.with_suffix(".hidden")
    metrics_module.rename(hidden)
    try:
        found = worker_path(str(metrics_module))
        assert found.startswith(str(package / "mlpipe_user_files")), found
        metrics = user_metrics.load_metrics("Evaluator", found)
    finally:
        hidden.rename(metrics_module)
        sys.modules.pop("mlpipe_user_files", None)
    assert metrics["share_survived"]([1, 0, 1, 1], None, [1.0, 1.0, 1.0, 1.0]) == 0.75

    # In a fresh process that has only the installed worker package and this
    # environment's installed packages (not this repository), every DoFn unpickles,
    # and the metrics module is found and loads.
    hidden = metrics_module.with_suffix(".hidden")
    metrics_module.rename(hidden)
    try:
        done, count = run_on_a_worker(translation, tmp_path, str(metrics_module))
    finally:
        hidden.rename(metrics_module)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["loaded"] == count > 0
    assert report["found"].startswith(str(tmp_path / "site" / "mlpipe_user_files"))
    assert report["metrics"] == ["share_survived"]


WORKER = """
import os, pickle, sys, json
target, payloads, metrics_module = sys.argv[1:4]
sys.path.insert(0, target)
import components, pipeline
assert components.__file__.startswith(target), components.__file__
assert pipeline.__file__.startswith(target), pipeline.__file__
loaded = 0
for name in sorted(os.listdir(payloads)):
    with open(os.path.join(payloads, name), "rb") as f:
        pickle.load(f)
    loaded += 1
found, metrics = None, None
if metrics_module:
    from components.dataflow import worker_path
    from components.evaluator import user_metrics
    found = worker_path(metrics_module)
    metrics = sorted(user_metrics.load_metrics("Evaluator", found))
print(json.dumps({"loaded": loaded, "found": found, "metrics": metrics}))
"""


def run_on_a_worker(translation: Translation, tmp_path, metrics_module: str = ""):
    """Installs the staged package as a worker does (pip, without dependencies:
    those are installed here already), then, in a fresh process outside the
    repository, unpickles every pickled function and loads ``metrics_module``
    through ``worker_path``. Returns the process and the number of functions."""
    import subprocess

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target),
         translation.staged_files()["workflow.tar.gz"]],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    payloads = tmp_path / "payloads"
    payloads.mkdir()
    count = 0
    for functions in translation.pickled_functions().values():
        for function in functions:
            (payloads / f"{count:04d}.pickle").write_bytes(function)
            count += 1
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(target), str(payloads), metrics_module],
        cwd=tmp_path,  # not the repository: its packages must not be found
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, count


def test_the_runner_hands_the_options_to_the_component(tmp_path, dry_args, store_url):
    """Pipeline options -> LocalRunner -> ExecutionContext -> make_beam_pipeline: a
    dry run fails the component with the translation, and the run with it."""
    from pipeline import LocalRunner, PipelineRunError

    gen = CsvExampleGen(input_base=str(TITANIC))
    pipeline = Pipeline("offline", [gen], root=str(tmp_path / "root"))
    runner = LocalRunner(store=store_url, beam_pipeline_args=dry_args)
    with pytest.raises(PipelineRunError) as caught:
        runner.run(pipeline)
    cause = caught.value.failures["CsvExampleGen"].__cause__
    assert isinstance(cause, DataflowDryRun)
    assert cause.translation.option("job_name").startswith("offline-csvexamplegen-")
    assert re.match(
        r"Dataflow dry run: job 'offline-csvexamplegen-[-0-9a-f]+' of project "
        r"'mlpipe-offline-check' was translated \(\d+ transforms, staged \[.*"
        r"'workflow.tar.gz'\]\) and not submitted; leave --dry_run out to run it.",
        str(cause),
    ), str(cause)


# ----------------------------------------------- what the translation catches


class KeepsConnection:
    """A DoFn that holds an open database connection: it cannot be pickled."""

    def __init__(self):
        import sqlite3

        self.connection = sqlite3.connect(":memory:")


def double(x):
    return 2 * x


def test_a_dofn_of_local_code_the_workers_lack_is_found(dry_args, tmp_path):
    import apache_beam as beam

    translation = translate(
        lambda p: p | beam.Create([1, 2]) | "Double" >> beam.Map(double), dry_args
    )
    # `double` lives in this test module: pickled by name, which workers cannot
    # import (tests/ is not in the worker package).
    assert translation.unshipped_modules() == {"Double": [__name__]}
    done, _ = run_on_a_worker(translation, tmp_path)
    assert done.returncode != 0
    assert re.search(r"ModuleNotFoundError: No module named 'tests[.']", done.stderr)


def test_an_unpicklable_dofn_is_refused(dry_args):
    import apache_beam as beam

    class Keep(beam.DoFn):
        def __init__(self):
            self.holder = KeepsConnection()

        def process(self, element):
            yield element

    with pytest.raises(
        RuntimeError, match=r"Unable to pickle fn .*sqlite3\.Connection"
    ):
        translate(lambda p: p | beam.Create([1]) | beam.ParDo(Keep()), dry_args)


def test_a_missing_setup_file_is_refused(dry_args, tmp_path):
    import apache_beam as beam

    missing = tmp_path / "nowhere" / "setup.py"
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"the setup file {str(missing)!r} (--setup_file) does not exist"
        ),
    ):
        translate(
            lambda p: p | beam.Create([1]), [*dry_args, f"--setup_file={missing}"]
        )


def test_a_setup_file_that_does_not_build_fails_the_translation(dry_args, tmp_path):
    import apache_beam as beam

    broken = tmp_path / "broken" / "setup.py"
    broken.parent.mkdir()
    broken.write_text("import setuptools\nsetuptools.setup(name=\n")
    with pytest.raises(RuntimeError, match="setup.py"):
        translate(lambda p: p | beam.Create([1]), [*dry_args, f"--setup_file={broken}"])


@pytest.mark.parametrize(
    ("job_name", "reason"),
    [
        ("Nightly_Taxi", "the job name 'Nightly_Taxi' is not valid"),
        ("9-taxi", "the job name '9-taxi' is not valid"),
        ("taxi-", "the job name 'taxi-' is not valid"),
    ],
)
def test_a_bad_job_name_is_refused(dry_args, job_name, reason):
    import apache_beam as beam

    with pytest.raises(DefinitionError, match=re.escape(reason)):
        translate(lambda p: p | beam.Create([1]), [*dry_args, f"--job_name={job_name}"])


def test_a_given_job_name_is_kept(dry_args):
    import apache_beam as beam

    translation = translate(
        lambda p: p | beam.Create([1]), [*dry_args, "--job_name=nightly-taxi"]
    )
    assert translation.option("job_name") == "nightly-taxi"
    assert translation.job.proto.name == "nightly-taxi"


def test_without_a_setup_file_mlpipe_packages_itself(dry_args):
    import apache_beam as beam

    args = [a for a in dry_args if not a.startswith("--setup_file=")]
    translation = translate(lambda p: p | beam.Create([1]), args)
    files = translation.package_files()
    assert "components/dataflow.py" in files and "pipeline/fs.py" in files
    assert not [f for f in files if f.startswith("mlpipe_user_files/m")]


def test_worker_path_leaves_other_paths_alone(tmp_path):
    assert worker_path("gs://bucket/metrics.py") == "gs://bucket/metrics.py"
    assert worker_path(str(tmp_path)) == str(tmp_path)
    assert worker_path(os.path.join(tmp_path, "gone.py")).endswith("gone.py")


def test_the_metrics_module_sits_beside_its_neighbour(launch, metrics_module):
    package = pathlib.Path(
        next(a for a in launch.beam_args if a.startswith("--setup_file=")).partition(
            "="
        )[2]
    ).parent
    manifest = (package / "mlpipe_user_files" / "__init__.py").read_text()
    assert str(metrics_module) in manifest
    copied = {p.name for p in (package / "mlpipe_user_files").glob("m*/*.py")}
    assert {"survival_metrics.py", "metrics_helpers.py", "taxi_module.py"} <= copied
    assert (
        textwrap.dedent(METRICS_MODULE)
        == next(
            (package / "mlpipe_user_files").glob("m*/survival_metrics.py")
        ).read_text()
    )
