"""Dataflow deployment: options checked before anything runs, and the workers' package.

A pipeline's components run on this machine (the launcher), and each component's Beam
job runs wherever its Beam options say. This module holds everything about sending
those jobs to Google Cloud Dataflow that can be decided without TensorFlow or Beam, so
that ``mlpipe run --runner dataflow`` refuses bad options in a second:

- ``dataflow_args``: Beam options for Dataflow, from Python (what ``mlpipe run``'s
  ``--runner dataflow --project ...`` flags turn into).
- ``check_dataflow_args``: validates Beam options that choose DataflowRunner (project
  id, region, ``gs://`` temp and staging locations and their bucket names, job name,
  service account, setup file, ``--dry_run``); every error says what and how to fix.
- ``write_worker_package``: a folder with a generated ``setup.py`` that Beam builds
  into the source distribution every worker installs (``--setup_file``): mlpipe's
  packages ``pipeline`` and ``components``, the user's module files (with the ``.py``
  files beside them) and, as ``install_requires``, mlpipe's dependencies pinned to the
  versions installed here.
- ``prepare_dataflow``: all of it for a loaded pipeline, as ``mlpipe run`` does.

``components.dataflow`` is the Beam side (defaults applied to every component's job,
worker look-up of module files, and the offline dry run).

Example:
    >>> args = dataflow_args(
    ...     project="my-project", region="us-central1", temp_location="gs://my-bucket/tmp"
    ... )
    >>> args[:2]
    ['--runner=DataflowRunner', '--project=my-project']
    >>> check_dataflow_args(args)["staging_location"]
    'gs://my-bucket/tmp/staging'
    >>> check_dataflow_args(["--runner=DataflowRunner", "--project=My_Project"])
    Traceback (most recent call last):
    ...
    pipeline.errors.DefinitionError: Dataflow: the project id 'My_Project' is not valid: it has upper-case letters. A project id is 6 to 30 lower-case letters, digits and hyphens, starting with a letter (find yours with `gcloud projects list`); pass it as --project PROJECT_ID.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline import fs
from pipeline.errors import DefinitionError

log = logging.getLogger("mlpipe")

RUNNER = "DataflowRunner"
#: The worker package's Python package that holds the user's module files.
USER_FILES_PACKAGE = "mlpipe_user_files"
#: What the worker package installs besides the user's files.
PACKAGES = ("pipeline", "components")
#: Installed beside mlpipe's own requirements, pinned too: the workers must read what
#: this machine pickles and writes (Arrow batches, protos, tfx_bsl coders).
PINNED_EXTRAS = ("tfx-bsl", "tensorflow-metadata", "pyarrow", "numpy", "protobuf")

_PROJECT_ID = re.compile(r"(?:[a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_JOB_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_BUCKET = re.compile(r"[a-z0-9][-_.a-z0-9]*[a-z0-9]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Options whose value may follow as the next argument (`--project p`); the rest of
# the Beam options mlpipe reads are flags or always written `--name=value`.
_VALUED = {
    "runner",
    "project",
    "region",
    "temp_location",
    "staging_location",
    "service_account_email",
    "job_name",
    "setup_file",
    "extra_package",
    "extra_packages",
    "sdk_location",
    "sdk_container_image",
    "requirements_file",
    "dry_run",
}


def parse_beam_args(args: Sequence[str]) -> dict[str, Any]:
    """The values of the Beam options mlpipe checks, as Beam's parser reads them.

    The last value of an option wins; ``--extra_package`` collects every value;
    a flag without a value (``--no_auth``) is True.

    Example:
        >>> parse_beam_args(["--project", "p", "--project=q", "--no_auth"])
        {'project': 'q', 'no_auth': True}
    """
    found: dict[str, Any] = {}
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if name in _VALUED and i < len(items) and not items[i].startswith("--"):
                value = items[i]
                i += 1
            else:
                found[name] = True
                continue
        if name in ("extra_package", "extra_packages"):
            found.setdefault("extra_packages", []).extend(
                value.split(",") if name == "extra_packages" else [value]
            )
        else:
            found[name] = value
    return found


def runner_name(args: Sequence[str]) -> str | None:
    """The runner that Beam options choose (the last ``--runner``), or None."""
    runner = parse_beam_args(args).get("runner")
    return runner if isinstance(runner, str) else None


def is_dataflow(args: Sequence[str]) -> bool:
    """True when Beam options choose DataflowRunner (any spelling Beam accepts).

    Example:
        >>> is_dataflow(["--runner=dataflow"]), is_dataflow(["--direct_num_workers=2"])
        (True, False)
    """
    runner = (runner_name(args) or "").rsplit(".", 1)[-1].lower()
    return runner.removesuffix("runner") in ("dataflow", "testdataflow")


def dataflow_args(
    *,
    project: str,
    region: str,
    temp_location: str,
    staging_location: str | None = None,
    service_account_email: str | None = None,
    job_name: str | None = None,
) -> list[str]:
    """Beam options that send every component's Beam job to Dataflow.

    The staging location defaults to ``<temp_location>/staging``. The result is not
    checked here; ``check_dataflow_args`` does that.

    Args:
        project: The Google Cloud project id.
        region: The Dataflow region, e.g. ``us-central1``.
        temp_location: A ``gs://`` folder for the jobs' temporary files.
        staging_location: A ``gs://`` folder for the packages the workers install.
        service_account_email: The workers' service account (default: the
            project's Compute Engine default service account).
        job_name: One name for every job (default: one per component and run).

    Returns:
        The options, ``--runner=DataflowRunner`` first.
    """
    args = [
        f"--runner={RUNNER}",
        f"--project={project}",
        f"--region={region}",
        f"--temp_location={temp_location}",
        f"--staging_location={staging_location or _join(temp_location, 'staging')}",
    ]
    if service_account_email:
        args.append(f"--service_account_email={service_account_email}")
    if job_name:
        args.append(f"--job_name={job_name}")
    return args


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def check_dataflow_args(args: Sequence[str], where: str = "Dataflow") -> dict[str, Any]:
    """Checks Beam options that choose DataflowRunner; returns them parsed.

    Beam checks some of these too, later and less clearly; a local temp location
    makes Beam retry Cloud Storage for minutes instead of failing.

    Args:
        args: The Beam options of one job.
        where: Who is asking, first in every message (``"Dataflow (component
            'statistics_gen')"``).

    Returns:
        The parsed options (``parse_beam_args``), with ``staging_location``
        defaulted to ``<temp_location>/staging``.

    Raises:
        DefinitionError: A missing project, region or temp location; an invalid
            project id, region, ``gs://`` location, bucket name, job name or service
            account; a setup file or extra package that does not exist; a
            ``--dry_run`` other than ``True``.
    """
    found = parse_beam_args(args)
    project = found.get("project")
    if not isinstance(project, str) or not project:
        raise DefinitionError(
            f"{where}: no Google Cloud project given. Pass the project id as "
            f"--project PROJECT_ID (Beam option --project=PROJECT_ID); "
            f"`gcloud projects list` shows yours."
        )
    _check_project(where, project)
    region = found.get("region")
    if not isinstance(region, str) or not region:
        raise DefinitionError(
            f"{where}: no region given. Pass the region the jobs run in as --region "
            f"REGION (Beam option --region=REGION), e.g. --region us-central1; see "
            f"https://cloud.google.com/dataflow/docs/resources/locations."
        )
    if not _REGION.fullmatch(region):
        raise DefinitionError(
            f"{where}: {region!r} is not a Dataflow region name; a region looks like "
            f"'us-central1' or 'europe-west4' (a region, not a zone such as "
            f"'us-central1-a')."
        )
    temp = found.get("temp_location")
    if not isinstance(temp, str) or not temp:
        raise DefinitionError(
            f"{where}: no temp location given. Dataflow needs a Cloud Storage folder "
            f"for temporary files: pass --temp-location gs://BUCKET/tmp (Beam option "
            f"--temp_location=gs://BUCKET/tmp)."
        )
    _check_gcs(where, "temp location", temp)
    staging = found.get("staging_location")
    if isinstance(staging, str) and staging:
        _check_gcs(where, "staging location", staging)
    else:
        found["staging_location"] = _join(temp, "staging")
    job_name = found.get("job_name")
    if job_name is not None:
        check_job_name(where, job_name)
    account = found.get("service_account_email")
    if account is not None and not (
        isinstance(account, str) and _EMAIL.fullmatch(account)
    ):
        raise DefinitionError(
            f"{where}: the service account {account!r} is not an email address; pass "
            f"--service-account-email NAME@PROJECT.iam.gserviceaccount.com."
        )
    setup_file = found.get("setup_file")
    if setup_file is not None and not (
        isinstance(setup_file, str) and os.path.isfile(setup_file)
    ):
        raise DefinitionError(
            f"{where}: the setup file {setup_file!r} (--setup_file) does not exist. "
            f"Give the path of a setup.py, or leave --setup_file out: mlpipe then "
            f"packages itself and your module files for the workers."
        )
    for package in found.get("extra_packages", []):
        if not fs.is_remote(package) and not os.path.isfile(package):
            raise DefinitionError(
                f"{where}: the extra package {package!r} (--extra_package) does not "
                f"exist. Build it first (e.g. python -m build --sdist) and pass the "
                f"path of the .tar.gz or .whl."
            )
    dry_run = found.get("dry_run")
    if dry_run is not None and str(dry_run) != "True":
        raise DefinitionError(
            f"{where}: --dry_run={dry_run} would still make Beam do a dry run (it "
            f"takes any value as true). Write --dry_run=True to translate the jobs "
            f"without submitting them, or leave the option out."
        )
    return found


def _check_project(where: str, project: str) -> None:
    if _PROJECT_ID.fullmatch(project):
        return
    if project.isdigit():
        reason = (
            "it is a project number; pass the project id (`gcloud projects describe "
            f"{project} --format='value(projectId)'` shows it)"
        )
    elif project != project.lower():
        reason = "it has upper-case letters"
    elif not 6 <= len(project.rpartition(":")[2]) <= 30:
        reason = f"it has {len(project)} characters"
    elif not project[0].isalpha():
        reason = "it does not start with a letter"
    elif project.endswith("-"):
        reason = "it ends with a hyphen"
    else:
        reason = "it has characters other than lower-case letters, digits and hyphens"
    raise DefinitionError(
        f"{where}: the project id {project!r} is not valid: {reason}. A project id "
        f"is 6 to 30 lower-case letters, digits and hyphens, starting with a letter "
        f"(find yours with `gcloud projects list`); pass it as --project PROJECT_ID."
    )


def _check_gcs(where: str, what: str, location: str) -> None:
    flag = "--" + what.replace(" ", "-")
    folder = "tmp" if what == "temp location" else "staging"
    if not location.startswith("gs://"):
        raise DefinitionError(
            f"{where}: the {what} {location!r} is not a Cloud Storage URL. The "
            f"Dataflow service and its workers reach only Cloud Storage: pass "
            f"{flag} gs://BUCKET/{folder} (create the bucket with "
            f"`gcloud storage buckets create gs://BUCKET --location REGION`)."
        )
    bucket, slash, _ = location[len("gs://") :].partition("/")
    check_bucket_name(where, bucket, f"the {what} {location!r}")
    if not slash:
        raise DefinitionError(
            f"{where}: the {what} {location!r} names a bucket but no folder in it; "
            f"pass {flag} gs://{bucket}/{folder}."
        )


def check_bucket_name(where: str, bucket: str, within: str) -> None:
    """Checks a Cloud Storage bucket name against the naming rules.

    Raises:
        DefinitionError: The name breaks a rule; the message says which.

    Example:
        >>> check_bucket_name("Dataflow", "My_Bucket", "the temp location")
        Traceback (most recent call last):
        ...
        pipeline.errors.DefinitionError: Dataflow: the bucket name 'My_Bucket' in the temp location is not valid: it has upper-case letters. Bucket names are 3 to 63 lower-case letters, digits, '-', '_' and '.', starting and ending with a letter or digit (https://cloud.google.com/storage/docs/buckets#naming).
    """
    parts = bucket.split(".")
    if not bucket:
        reason = "it is empty"
    elif bucket != bucket.lower():
        reason = "it has upper-case letters"
    elif not 3 <= len(bucket) <= (222 if "." in bucket else 63) or any(
        len(part) > 63 for part in parts
    ):
        reason = f"it has {len(bucket)} characters"
    elif not _BUCKET.fullmatch(bucket):
        reason = (
            "it must start and end with a letter or digit and hold only letters, "
            "digits, '-', '_' and '.'"
        )
    elif bucket.startswith("goog") or "google" in bucket:
        reason = "it may not start with 'goog' or contain 'google'"
    elif re.fullmatch(r"[0-9.]+", bucket) and len(parts) == 4:
        reason = "it looks like an IP address"
    else:
        return
    raise DefinitionError(
        f"{where}: the bucket name {bucket!r} in {within} is not valid: {reason}. "
        f"Bucket names are 3 to 63 lower-case letters, digits, '-', '_' and '.', "
        f"starting and ending with a letter or digit "
        f"(https://cloud.google.com/storage/docs/buckets#naming)."
    )


def check_job_name(where: str, job_name: Any) -> None:
    """Checks a Dataflow job name: lower-case letters, digits and '-'.

    Raises:
        DefinitionError: The name does not fit.
    """
    if isinstance(job_name, str) and _JOB_NAME.fullmatch(job_name):
        return
    suggestion = make_job_name(str(job_name), stamp=False) if job_name else "my-job"
    raise DefinitionError(
        f"{where}: the job name {job_name!r} is not valid: Dataflow job names are "
        f"lower-case letters, digits and '-', starting with a letter and ending with "
        f"a letter or digit, e.g. {suggestion!r}. Leave --job_name out to get one "
        f"per component and run."
    )


def make_job_name(label: str, *, stamp: bool = True) -> str:
    """A valid Dataflow job name from a label, unique when ``stamp`` (the default).

    Example:
        >>> make_job_name("Taxi_Pipeline-StatisticsGen", stamp=False)
        'taxi-pipeline-statisticsgen'
    """
    import datetime
    import secrets

    name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "mlpipe-" + name
    if stamp:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        name = f"{name[:60]}-{now}-{secrets.token_hex(2)}"
    return name[:1000].strip("-")


# ------------------------------------------------------------ the worker package


def write_worker_package(folder: str, module_files: Iterable[str] = ()) -> str:
    """Writes the source of the package every Dataflow worker installs.

    The folder receives a copy of mlpipe's ``pipeline`` and ``components`` packages,
    the package ``mlpipe_user_files`` with each local module file and the ``.py``
    files beside it (module files may import their neighbours), and a ``setup.py``
    whose ``install_requires`` pins mlpipe's dependencies to the versions installed
    here and whose ``python_requires`` is this Python's version. Beam builds it into
    an sdist when it is passed as ``--setup_file``; on a worker,
    ``components.dataflow.worker_path`` finds a module file by its path here.
    Module files on ``gs://`` are read from there by the workers and not copied.

    Args:
        folder: An empty or missing folder to write into.
        module_files: Paths of the user's module files.

    Returns:
        The path of the generated ``setup.py``.

    Example:
        >>> import tempfile
        >>> setup = write_worker_package(tempfile.mkdtemp())
        >>> "install_requires" in open(setup).read()
        True
    """
    os.makedirs(folder, exist_ok=True)
    packages: list[str] = []
    for name in PACKAGES:
        source = _package_dir(name)
        shutil.copytree(
            source,
            os.path.join(folder, name),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        packages += _packages_in(folder, name)
    manifest = _copy_user_files(folder, module_files)
    packages += _packages_in(folder, USER_FILES_PACKAGE)
    setup = os.path.join(folder, "setup.py")
    with open(setup, "w", encoding="utf-8") as f:
        f.write(_setup_source(packages, worker_requirements()))
    log.debug("Dataflow worker package in %s: %s", folder, manifest)
    return setup


def _package_dir(name: str) -> str:
    # find_spec locates a top-level package without running it: the pipeline layer
    # must not import components.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DefinitionError(
            f"Dataflow: cannot find mlpipe's package {name!r} to send to the workers; "
            f"install mlpipe (pip install -e .) in the environment that launches."
        )
    return list(spec.submodule_search_locations)[0]


def _packages_in(folder: str, name: str) -> list[str]:
    found = []
    for where, dirs, files in os.walk(os.path.join(folder, name)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        if "__init__.py" in files:
            found.append(os.path.relpath(where, folder).replace(os.sep, "."))
    return found


def _copy_user_files(folder: str, module_files: Iterable[str]) -> dict[str, str]:
    """Copies module files (with their neighbours) into mlpipe_user_files/mN/."""
    target = os.path.join(folder, USER_FILES_PACKAGE)
    os.makedirs(target, exist_ok=True)
    manifest: dict[str, str] = {}
    slots: dict[str, str] = {}
    for path in module_files:
        if not path or fs.is_remote(path):
            continue
        absolute = os.path.abspath(path)
        if not os.path.isfile(absolute):
            raise DefinitionError(
                f"Dataflow: the module file {path!r} does not exist (looked for "
                f"{absolute}), so it cannot be sent to the workers."
            )
        source_dir = os.path.dirname(absolute)
        if source_dir not in slots:
            slots[source_dir] = f"m{len(slots)}"
            slot = os.path.join(target, slots[source_dir])
            os.makedirs(slot)
            for name in sorted(os.listdir(source_dir)):
                if name.endswith(".py") and os.path.isfile(
                    os.path.join(source_dir, name)
                ):
                    shutil.copy2(os.path.join(source_dir, name), slot)
            open(os.path.join(slot, "__init__.py"), "a").close()
        # Keyed by the path as given too: a relative path is taken from the
        # worker's own folder there.
        copied = f"{slots[source_dir]}/{os.path.basename(absolute)}"
        manifest[absolute] = manifest[path] = copied
    with open(os.path.join(target, "__init__.py"), "w", encoding="utf-8") as f:
        f.write(
            '"""The user\'s module files, copied for Dataflow workers by mlpipe."""\n\n'
            "#: Each module file's path on the launching machine -> its path here.\n"
            f"FILES = {json.dumps(manifest, indent=4, sort_keys=True)}\n"
        )
    return manifest


def worker_requirements() -> list[str]:
    """mlpipe's dependencies pinned to the versions installed here, for the workers.

    Beam itself is pinned too, with its ``gcp`` extra: the worker container of
    this Beam version already has it, so nothing is reinstalled, and a mismatch
    fails the install instead of the job.

    Example:
        >>> any(r.startswith("apache-beam[gcp]==") for r in worker_requirements())
        True
    """
    try:
        declared = [
            r
            for r in importlib.metadata.requires("mlpipe") or []
            if "extra ==" not in r
        ]
    except importlib.metadata.PackageNotFoundError:
        declared = ["tensorflow", "apache-beam", "tensorflow-transform"]
    names = [re.split(r"[\s\[<>=~!;]", r, maxsplit=1)[0] for r in declared]
    pinned = []
    for name in dict.fromkeys([*names, *PINNED_EXTRAS]):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        extra = "[gcp]" if name.lower().replace("_", "-") == "apache-beam" else ""
        pinned.append(f"{name}{extra}=={version}")
    return pinned


def _setup_source(packages: Sequence[str], requirements: Sequence[str]) -> str:
    try:
        version = importlib.metadata.version("mlpipe")
    except importlib.metadata.PackageNotFoundError:
        version = "0.0.0"
    python = f"=={sys.version_info.major}.{sys.version_info.minor}.*"
    return (
        "# Generated by mlpipe for Dataflow workers (docs/dataflow.md); do not edit.\n"
        "import setuptools\n\n"
        "setuptools.setup(\n"
        '    name="mlpipe",\n'
        f"    version={version!r},\n"
        '    description="mlpipe and the pipeline\'s module files, for Beam workers",\n'
        f"    packages={list(packages)!r},\n"
        f"    python_requires={python!r},\n"
        f"    install_requires={list(requirements)!r},\n"
        ")\n"
    )


# ------------------------------------------------------------ a pipeline's launch


@dataclasses.dataclass
class DataflowLaunch:
    """What ``prepare_dataflow`` made for a run: Beam options and a scratch folder.

    Attributes:
        beam_args: Options to add after the run's own (``--setup_file``,
            ``--sdk_location``).
        folder: The worker package's folder; ``cleanup`` removes it.
    """

    beam_args: list[str]
    folder: str | None = None

    def cleanup(self) -> None:
        """Removes the worker package's folder."""
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def module_files(pipeline: Any) -> list[str]:
    """The ``ModuleFile`` parameters of every component of a pipeline, in order."""
    found = []
    for node in pipeline.components:
        for name, spec in type(node).spec.parameters.items():
            value = node.parameters.get(name)
            if spec.module_file and isinstance(value, str) and value:
                found.append(value)
    return list(dict.fromkeys(found))


def prepare_dataflow(
    pipeline: Any, extra_args: Sequence[str] = ()
) -> DataflowLaunch | None:
    """Checks a pipeline for Dataflow and packages it for the workers.

    Does nothing (returns None) unless the pipeline's Beam options followed by
    ``extra_args`` (or one component's own, ``.with_beam_args``) choose
    DataflowRunner. Otherwise it checks each component's options, that the
    pipeline root is a ``gs://`` URL (the workers write the artifacts there), warns
    about local ``InputPath`` parameters, and, unless the options name a ``--setup_file``, writes
    the worker package of ``write_worker_package`` with the pipeline's module files.

    Args:
        pipeline: The loaded ``Pipeline``.
        extra_args: Beam options added after the pipeline's own (``mlpipe run``'s).

    Returns:
        A ``DataflowLaunch`` whose ``beam_args`` go after ``extra_args``; call its
        ``cleanup`` after the run. None when nothing runs on Dataflow.

    Raises:
        DefinitionError: See ``check_dataflow_args``; also a local pipeline root.
    """
    base = [*pipeline.beam_pipeline_args, *extra_args]
    per_node = {
        node.id: [*base, *(node.beam_pipeline_args or [])]
        for node in pipeline.components
    }
    on_dataflow = [node_id for node_id, args in per_node.items() if is_dataflow(args)]
    if not on_dataflow and not is_dataflow(base):
        return None
    where = f"Dataflow (pipeline {pipeline.name!r})"
    if is_dataflow(base):
        check_dataflow_args(base, where)
    for node_id in on_dataflow:
        if per_node[node_id] != base:
            check_dataflow_args(per_node[node_id], f"Dataflow (component {node_id!r})")
    if not fs.is_remote(pipeline.root):
        raise DefinitionError(
            f"{where}: the pipeline root {pipeline.root} is a local folder, but the "
            f"Dataflow workers write the artifacts. Use a Cloud Storage folder: "
            f"--root gs://BUCKET/pipelines/{pipeline.name} (or Pipeline(root=...))."
        )
    _warn_about_local_inputs(where, pipeline)
    launch = DataflowLaunch(beam_args=[])
    if not is_dataflow(base):
        return launch
    parsed = parse_beam_args(base)
    if "sdk_location" not in parsed:
        launch.beam_args.append("--sdk_location=container")
    if "setup_file" not in parsed:
        launch.folder = tempfile.mkdtemp(prefix="mlpipe-dataflow-")
        try:
            setup = write_worker_package(
                os.path.join(launch.folder, "package"), module_files(pipeline)
            )
        except BaseException:
            launch.cleanup()
            raise
        launch.beam_args.append(f"--setup_file={setup}")
    return launch


def _warn_about_local_inputs(where: str, pipeline: Any) -> None:
    # A warning, not an error: some components read their input here (SchemaGen's
    # schema_file), others on the workers (every ExampleGen's input_base).
    for node in pipeline.components:
        for name, spec in type(node).spec.parameters.items():
            value = node.parameters.get(name)
            if spec.input_path and value and not fs.is_remote(str(value)):
                log.warning(
                    "%s: component %r reads %s=%r, a path on this machine; if its "
                    "Beam job reads it (every ExampleGen's does), the Dataflow workers "
                    "cannot. Copy the data to Cloud Storage (gcloud storage cp -r %s "
                    "gs://BUCKET/data/) and pass a gs:// path.",
                    where,
                    node.id,
                    name,
                    value,
                    value,
                )
