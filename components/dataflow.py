"""Components' Beam jobs on Google Cloud Dataflow: defaults, workers, offline checks.

``components.beam_pipeline.make_beam_pipeline`` hands every job whose options choose
DataflowRunner to ``make_dataflow_pipeline``, which checks the options
(``pipeline.runners.dataflow_options.check_dataflow_args``) and completes them:

- ``--sdk_location=container``: the workers use the SDK of Beam's default container
  image for this Beam and Python version (``apache/beam_python3.X_sdk:2.77.0``);
  nothing of Beam is staged.
- ``--setup_file``: when none is given (a ``Pipeline.run()`` without
  ``prepare_dataflow``), a package of mlpipe's own ``pipeline`` and ``components``
  is generated once per process. ``mlpipe run`` passes one that also holds the
  pipeline's module files.
- ``--job_name``: ``<pipeline>-<component>-<UTC time>-<4 hex>``, unique per job.
- ``--staging_location``: ``<temp_location>/staging``.

On a worker, ``worker_path`` finds a module file of the launching machine in that
package (the Evaluator's user metrics are loaded there). When the launcher stops
waiting for a job (Ctrl-C, SIGTERM), the job is cancelled: a Dataflow job outlives
the process that submitted it.

**Offline translation.** With ``--dry_run=True --no_auth`` (and made-up ``gs://``
locations and project), Beam validates the options, builds the setup package's
sdist, pickles every DoFn and translates the pipeline to its protobuf, all without
network or credentials, and submits nothing. Such a job wrote nothing for its
component to read back, so its ``run()`` raises ``DataflowDryRun`` with the
``Translation`` instead of returning: a component stops right after translating.

Example:
    >>> from components.beam_pipeline import make_beam_pipeline
    >>> import apache_beam as beam
    >>> args = DRY_RUN_ARGS + ["--project=my-project", "--region=us-central1",
    ...                        "--temp_location=gs://my-bucket/tmp"]
    >>> try:
    ...     with make_beam_pipeline(args, job_label="demo-double") as p:
    ...         _ = p | beam.Create([1, 2]) | "Double" >> beam.Map(lambda x: 2 * x)
    ... except DataflowDryRun as dry:
    ...     translation = dry.translation
    >>> "Double" in translation.transform_names()
    True
    >>> translation.option("job_name").startswith("demo-double-")
    True
    >>> translation.cleanup()  # the staged files Beam left in a temporary folder
"""

from __future__ import annotations

import atexit
import base64
import bz2
import dataclasses
import logging
import os
import pickletools
import shutil
import sys
import sysconfig
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam

from pipeline import DefinitionError, fs
from pipeline.runners import dataflow_options

log = logging.getLogger("mlpipe")

#: Options of an offline translation: add a project, a region and gs:// locations.
DRY_RUN_ARGS = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--no_auth",
    "--sdk_location=container",
]
#: The top-level modules the generated worker package installs.
SHIPPED = (*dataflow_options.PACKAGES, dataflow_options.USER_FILES_PACKAGE)

_fallback_package: str | None = None
_fallback_lock = threading.Lock()


def complete_args(args: Sequence[str], *, job_label: str | None = None) -> list[str]:
    """Checks Dataflow options and adds mlpipe's defaults for what they leave out.

    Args:
        args: Beam options that choose DataflowRunner.
        job_label: What the job's default name starts with (``<pipeline>-<component>``).

    Returns:
        ``args`` followed by ``--sdk_location``, ``--staging_location``,
        ``--job_name`` and ``--setup_file`` where they were missing.

    Raises:
        DefinitionError: The options are not valid for Dataflow (see
            ``check_dataflow_args``).
    """
    args = list(args)
    where = f"Dataflow (job {job_label!r})" if job_label else "Dataflow"
    given = dataflow_options.parse_beam_args(args)
    checked = dataflow_options.check_dataflow_args(args, where)
    extra = []
    if "sdk_location" not in given:
        extra.append("--sdk_location=container")
    if "staging_location" not in given:
        extra.append(f"--staging_location={checked['staging_location']}")
    if "job_name" not in given:
        extra.append(
            f"--job_name={dataflow_options.make_job_name(job_label or 'mlpipe')}"
        )
    if "setup_file" not in given:
        extra.append(f"--setup_file={_mlpipe_package()}")
    return args + extra


def _mlpipe_package() -> str:
    global _fallback_package
    with _fallback_lock:
        if _fallback_package is None or not os.path.isfile(_fallback_package):
            folder = tempfile.mkdtemp(prefix="mlpipe-dataflow-")
            atexit.register(shutil.rmtree, folder, True)
            _fallback_package = dataflow_options.write_worker_package(folder)
            log.info(
                "No --setup_file: the Dataflow workers get mlpipe's packages only; "
                "module files the workers load must be gs:// URLs (mlpipe run "
                "packages them)."
            )
        return _fallback_package


def make_dataflow_pipeline(args: Sequence[str], *, job_label: str | None = None) -> Any:
    """A ``beam.Pipeline`` for Dataflow over ``complete_args(args)``.

    With ``--dry_run=True`` its ``run()`` translates the job and raises
    ``DataflowDryRun`` (see the module docstring).
    """
    from components.beam_pipeline import beam_options

    options = beam_options(complete_args(args, job_label=job_label))
    dry_run = dataflow_options.parse_beam_args(args).get("dry_run") == "True"
    return (_DryRunPipeline if dry_run else _DataflowPipeline)(options=options)


class _DataflowPipeline(beam.Pipeline):
    """Cancels its job when the launcher stops waiting for it (Ctrl-C, SIGTERM):
    a Dataflow job outlives the process that submitted it, and would go on
    writing into outputs that mlpipe has abandoned, and costing."""

    def run(self, test_runner_api: Any = "AUTO") -> Any:
        result = super().run(test_runner_api)
        wait = result.wait_until_finish
        region = self._options.get_all_options()["region"]

        def wait_or_cancel(duration: Any = None) -> Any:
            try:
                return wait(duration)
            except (KeyboardInterrupt, SystemExit):
                from apache_beam.runners.runner import PipelineState

                if not PipelineState.is_terminal(result.state):
                    log.warning("Cancelling Dataflow job %s", result.job_id())
                    try:
                        result.cancel()
                    except Exception as exc:  # noqa: BLE001 - the interrupt matters more
                        log.error(
                            "Could not cancel Dataflow job %s (%s); cancel it with "
                            "`gcloud dataflow jobs cancel %s --region %s`",
                            result.job_id(),
                            exc,
                            result.job_id(),
                            region,
                        )
                raise

        result.wait_until_finish = wait_or_cancel
        return result


def worker_path(path: str) -> str:
    """Where a module file named on the launching machine is, here.

    On a Dataflow worker that installed the package of ``write_worker_package``,
    a local path of the launching machine maps to the copy in
    ``mlpipe_user_files``; anywhere else (and for ``gs://`` URLs and files that
    exist) the path is returned as it is.

    Example:
        >>> worker_path("gs://bucket/metrics.py")
        'gs://bucket/metrics.py'
    """
    if fs.is_remote(path) or os.path.exists(path):
        return path
    try:
        import mlpipe_user_files
    except ImportError:
        return path
    files = getattr(mlpipe_user_files, "FILES", {})
    relative = files.get(path) or files.get(os.path.abspath(path))
    if relative is None:
        return path
    return os.path.join(os.path.dirname(mlpipe_user_files.__file__), relative)


# ------------------------------------------------------------------ dry runs


@dataclasses.dataclass
class Translation:
    """A Beam job as DataflowRunner translated it, without submitting it.

    Attributes:
        proto: The pipeline proto (``beam_runner_api_pb2.Pipeline``) Dataflow
            would get.
        job: Beam's ``apiclient.Job``: the job request (``job.proto``) and options.
        options: The job's ``PipelineOptions``, mlpipe's defaults included.
    """

    proto: Any
    job: Any
    options: Any

    def option(self, name: str) -> Any:
        """The value of one pipeline option, e.g. ``option("project")``."""
        return self.options.get_all_options()[name]

    def transform_names(self) -> list[str]:
        """The unique names of every transform (``Read[train]``, ``Analyze/...``)."""
        return sorted(t.unique_name for t in self.proto.components.transforms.values())

    def staged_files(self) -> dict[str, str]:
        """What the workers get: staged name -> local file (``workflow.tar.gz`` is
        the setup package's sdist)."""
        from apache_beam.portability import common_urns
        from apache_beam.portability.api import beam_runner_api_pb2

        staged = {}
        for environment in self.proto.components.environments.values():
            for dep in environment.dependencies:
                if dep.role_urn != common_urns.artifact_roles.STAGING_TO.urn:
                    continue
                path = beam_runner_api_pb2.ArtifactFilePayload.FromString(
                    dep.type_payload
                ).path
                role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
                    dep.role_payload
                )
                staged[role.staged_name] = path
        return staged

    def container_images(self) -> list[str]:
        """The worker container image of each environment: Beam's default image for
        this Python and Beam version unless ``--sdk_container_image`` says
        otherwise."""
        from apache_beam.portability.api import beam_runner_api_pb2

        return sorted(
            beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
            for env in self.proto.components.environments.values()
        )

    def package_files(self) -> list[str]:
        """The files inside the staged setup package (``workflow.tar.gz``)."""
        with tarfile.open(self.staged_files()["workflow.tar.gz"]) as sdist:
            return sorted(
                name.split("/", 1)[1] for name in sdist.getnames() if "/" in name
            )

    def cleanup(self) -> None:
        """Removes the temporary folders of the staged files (Beam leaves them)."""
        for folder in {os.path.dirname(path) for path in self.staged_files().values()}:
            if os.path.basename(folder).startswith("tmp"):
                shutil.rmtree(folder, ignore_errors=True)

    def pickled_functions(self) -> dict[str, list[bytes]]:
        """Each transform's pickled DoFns and CombineFns, as plain pickles (what a
        worker unpickles, decompressed)."""
        found = {}
        for transform in self.proto.components.transforms.values():
            payloads = _pickled_payloads(transform)
            if payloads:
                found[transform.unique_name] = payloads
        return found

    def pickled_modules(self) -> dict[str, set[str]]:
        """The modules each transform's pickled functions refer to by name.

        A function or class that pickles by reference is imported by module name
        on the worker; that module must be installed there.
        """
        found = {}
        for name, payloads in self.pickled_functions().items():
            modules = set().union(*(_modules_in_pickle(p) for p in payloads))
            if modules:
                found[name] = modules
        return found

    def unshipped_modules(
        self, shipped: Iterable[str] = SHIPPED
    ) -> dict[str, list[str]]:
        """Modules of this machine's own code that pickled functions need but the
        workers will not have: neither installed packages nor the standard library
        nor the worker package (``shipped``). Workers fail on them with
        ``ModuleNotFoundError``.

        Returns:
            Transform name -> the missing modules; empty when all is well.
        """
        shipped = set(shipped)
        missing = {}
        for name, modules in self.pickled_modules().items():
            local = sorted(m for m in modules if _is_local_code(m, shipped))
            if local:
                missing[name] = local
        return missing


class DataflowDryRun(Exception):
    """A dry run translated a Beam job and submitted nothing.

    Raised by the ``run()`` of a pipeline made with ``--dry_run=True``: the
    component that built it has nothing to read back and stops here.

    Attributes:
        translation: The ``Translation``.
    """

    def __init__(self, translation: Translation):
        self.translation = translation
        names = translation.transform_names()
        super().__init__(
            f"Dataflow dry run: job {translation.option('job_name')!r} of project "
            f"{translation.option('project')!r} was translated ({len(names)} "
            f"transforms, staged {sorted(translation.staged_files())}) and not "
            f"submitted; leave --dry_run out to run it."
        )


class _DryRunPipeline(beam.Pipeline):
    def run(self, test_runner_api: Any = "AUTO") -> Any:
        result = super().run(test_runner_api)
        raise DataflowDryRun(
            Translation(self.runner.proto_pipeline, result.job, self._options)
        )


def translate(
    build: Any, args: Sequence[str], *, job_label: str = "translate"
) -> Translation:
    """Translates a pipeline offline: ``build(pipeline)`` adds the transforms.

    Args:
        build: Called with the pipeline; adds transforms to it.
        args: Dataflow options with ``--dry_run=True`` (see ``DRY_RUN_ARGS``).
        job_label: Starts the default job name.

    Returns:
        The ``Translation``.
    """
    try:
        with make_dataflow_pipeline(args, job_label=job_label) as pipeline:
            build(pipeline)
    except DataflowDryRun as dry:
        return dry.translation
    raise DefinitionError(
        "translate() needs --dry_run=True among the options; without it the job "
        "would be submitted."
    )


def _pickled_payloads(transform: Any) -> list[bytes]:
    from apache_beam.portability import common_urns, python_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    spec = transform.spec
    inner = []
    if spec.urn == common_urns.primitives.PAR_DO.urn:
        inner.append(beam_runner_api_pb2.ParDoPayload.FromString(spec.payload).do_fn)
    elif spec.urn in (
        common_urns.composites.COMBINE_PER_KEY.urn,
        common_urns.composites.COMBINE_GLOBALLY.urn,
        common_urns.combine_components.COMBINE_PER_KEY_PRECOMBINE.urn,
        common_urns.combine_components.COMBINE_PER_KEY_MERGE_ACCUMULATORS.urn,
        common_urns.combine_components.COMBINE_PER_KEY_EXTRACT_OUTPUTS.urn,
        common_urns.combine_components.COMBINE_GROUPED_VALUES.urn,
    ):
        inner.append(
            beam_runner_api_pb2.CombinePayload.FromString(spec.payload).combine_fn
        )
    elif spec.urn == python_urns.PICKLED_TRANSFORM:
        inner.append(spec)
    payloads = []
    for fn in inner:
        if fn.urn in (python_urns.PICKLED_DOFN_INFO, python_urns.PICKLED_COMBINE_FN):
            decoded = _decompress(fn.payload)
            if decoded is not None:
                payloads.append(decoded)
    return payloads


def _decompress(payload: bytes) -> bytes | None:
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        data = payload
    for decompress in (bz2.decompress, zlib.decompress):
        try:
            return decompress(data)
        except (OSError, ValueError, zlib.error):
            continue
    return None


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_GET_OPS = {"BINGET", "LONG_BINGET", "GET"}
_PUT_OPS = {"BINPUT", "LONG_BINPUT", "PUT"}


def _modules_in_pickle(data: bytes) -> set[str]:
    """Module names a pickle imports: its GLOBAL / STACK_GLOBAL opcodes, and the
    modules cloudpickle's ``subimport`` brings back for functions pickled by value."""
    modules: set[str] = set()
    memo: dict[int, Any] = {}
    pushed: list[Any] = []
    after_subimport = False
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if after_subimport and name in _STRING_OPS | _GET_OPS:
                # subimport's argument: the name of the module to import.
                value = arg if name in _STRING_OPS else memo.get(arg)
                if isinstance(value, str):
                    modules.add(value)
                after_subimport = False
            if name in _STRING_OPS:
                pushed.append(arg)
            elif name in _GET_OPS:
                pushed.append(memo.get(arg))
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in _PUT_OPS:
                memo[arg] = pushed[-1] if pushed else None
            elif name == "GLOBAL":
                module, _, attribute = arg.partition(" ")
                modules.add(module)
                after_subimport = attribute == "subimport"
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                module, attribute = (pushed[-2:] + [None, None])[:2]
                if isinstance(module, str):
                    modules.add(module)
                after_subimport = attribute == "subimport"
                pushed.append(None)
            else:
                pushed.append(None)
    except ValueError:
        pass  # not a pickle after all
    return {m for m in modules if m}


def _is_local_code(module: str, shipped: set[str]) -> bool:
    import importlib.util

    top = module.split(".")[0]
    if top in shipped or top in sys.stdlib_module_names or top == "__main__":
        return False
    # The module itself where it is loaded (a top-level name may exist twice: a
    # stray `tests` package in site-packages besides the project's own).
    origin = getattr(sys.modules.get(module), "__file__", None)
    if origin is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return True
        if spec is None:
            return True
        origin = spec.origin or next(iter(spec.submodule_search_locations or []), "")
    if not origin or origin in ("built-in", "frozen"):
        return False
    installed = {
        os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")
    }
    return not any(
        os.path.realpath(origin).startswith(folder + os.sep) for folder in installed
    )
