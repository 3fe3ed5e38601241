"""The Pusher component: a blessed, smoke-tested model copied to a serving folder."""

from __future__ import annotations

import logging
import os
import re
import uuid
from typing import Any

from components.pusher.smoke import SIGNATURE, SmokeTestError, smoke_test
from pipeline import (
    ArtifactStorageError,
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    Model,
    ModelBlessing,
    Output,
    Parameter,
    PushedModel,
    component,
    fs,
    source_version,
)

EXAMPLES_PATTERN = "data-*.tfrecord.gz"
TEMP_PREFIX = ".tmp-"
_VERSION_NAME = re.compile(r"[0-9]+")
_MAX_ATTEMPTS = 100
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

log = logging.getLogger("mlpipe.pusher")


@component(name="Pusher", version=source_version("components.pusher"))
def Pusher(
    model: Input[Model],
    pushed_model: Output[PushedModel],
    context: ExecutionContext,
    push_destination: Parameter[str],
    model_blessing: Input[ModelBlessing] = None,
    examples: Input[Examples] = None,
    smoke_test_examples: int = 8,
    smoke_test_timeout_s: int = 600,
    smoke_test_in_subprocess: bool = False,
) -> dict[str, Any]:
    """Smoke-tests a blessed model and copies it to ``<push_destination>/<version>/``.

    The layout is TF Serving's: each push adds a numbered folder holding the
    SavedModel, one above the highest number already there (1 for the first), and
    the folder appears whole: the model is copied into a hidden ``.tmp-<id>`` folder
    beside it, then renamed. A push never replaces a version: when another push
    takes the number first, the next free number is used.

    A model that ``model_blessing`` does not bless is not pushed, and that is not a
    failure: ``pushed_model.pushed`` is False and ``reason`` says why. A model that
    fails its smoke test (see ``components.pusher.smoke``) is not pushed either, and
    the execution fails.

    Args:
        model: A Trainer's Model; its ``Format-Serving/`` SavedModel is pushed.
        pushed_model: Records the push: ``pushed``, ``destination``, ``version``,
            ``pushed_uri`` and ``reason``.
        context: The run's context.
        push_destination: The folder TF Serving watches (its ``--model_base_path``),
            a local path or a URL such as gs://bucket/models/taxi. It is created if
            missing; a relative path is taken from the current folder; ``""`` means
            ``<pipeline root>/serving``.
        model_blessing: An Evaluator's verdict; without one every model is pushed.
        examples: Examples to smoke-test with: a few records of the ``eval`` split
            (else the first split). Without them the Model's own samples
            (``samples/examples.tfrecord``) are used when it has them.
        smoke_test_examples: How many examples the model is called on; 0 checks
            only that it loads and has a fitting ``serving_default`` signature.
        smoke_test_timeout_s: The longest the smoke test may take, in seconds
            (in a subprocess).
        smoke_test_in_subprocess: Load and call the model in a fresh Python process,
            isolated from this one (custom ops the training process registered, a
            crash of TensorFlow) at the cost of TensorFlow's start-up (4-7 s here).
            Default: in this process, which has usually just trained the model.

    Returns:
        ``{"pushed", "version", "destination", "pushed_uri", "reason",
        "smoke_test"}``, recorded on the execution (``version`` and ``pushed_uri``
        are None when nothing was pushed).

    Raises:
        FileNotFoundError: The Model has no ``Format-Serving/`` SavedModel, or the
            wired Examples have no example files.
        ArtifactStorageError: ``push_destination`` is a file or cannot be written.
        SmokeTestError: The model does not load, has no fitting ``serving_default``
            signature, raises on the examples, or returns outputs without one row
            per example or with NaN or infinite values. Nothing is pushed.
        DefinitionError: ``smoke_test_examples`` or ``smoke_test_timeout_s`` is
            not a sensible number.

    Example:
        >>> from pipeline import Model, ModelBlessing, Output, component
        >>> @component
        ... def train_and_evaluate(model: Output[Model], blessing: Output[ModelBlessing]):
        ...     '''Writes a model and decides whether it is good enough.'''
        >>> trainer = train_and_evaluate()
        >>> pusher = Pusher(
        ...     model=trainer.outputs["model"],
        ...     model_blessing=trainer.outputs["blessing"],
        ...     push_destination="/srv/models/taxi",
        ... )
        >>> pusher.parameters["push_destination"], sorted(pusher.outputs)
        ('/srv/models/taxi', ['pushed_model'])
    """
    owner = f"Pusher {context.component_id!r}"
    if smoke_test_examples < 0 or smoke_test_timeout_s <= 0:
        raise DefinitionError(
            f"{owner}: smoke_test_examples must be 0 or more and smoke_test_timeout_s "
            f"more than 0, got {smoke_test_examples} and {smoke_test_timeout_s}."
        )
    destination = _resolve_destination(push_destination, context)
    pushed_model.destination = destination
    pushed_model.pushed = False
    if model_blessing is not None and model_blessing.blessed is not True:
        reasons = list(model_blessing.reasons or [])
        reason = (
            f"not blessed: the ModelBlessing at {model_blessing.uri} says "
            f"blessed={model_blessing.blessed}"
            + (f" ({'; '.join(reasons)})" if reasons else ", giving no reasons")
        )
        pushed_model.reason = reason
        context.log.warning(
            "%s: did not push the model %s: %s", owner, model.uri, reason
        )
        return _result(pushed_model, None)
    if model_blessing is None:
        gate = "pushed without a blessing: no model_blessing is wired"
        context.log.info(
            "%s: no model_blessing is wired; nothing gates the push", owner
        )
    else:
        gate = f"blessed by the ModelBlessing at {model_blessing.uri}"
    serving_dir = _check_model(owner, model)
    _check_destination(owner, destination)
    source, files, compression = _smoke_examples(owner, model, examples)
    if not files or not smoke_test_examples:
        context.log.warning(
            "%s: %s; the smoke test only checks that %s loads and has a %r signature "
            "taking serialized tf.Examples",
            owner,
            "smoke_test_examples=0"
            if not smoke_test_examples
            else "no examples to smoke-test with (wire examples=..., or give the "
            "Model samples/examples.tfrecord)",
            serving_dir,
            SIGNATURE,
        )
    try:
        checked = smoke_test(
            serving_dir,
            files,
            compression=compression,
            count=smoke_test_examples,
            timeout_s=smoke_test_timeout_s,
            in_subprocess=smoke_test_in_subprocess,
        )
    except SmokeTestError as exc:
        raise SmokeTestError(
            f"{owner}: the Model at {model.uri} was not pushed to {destination}. {exc}",
            exc.stage,
        ) from None
    checked["source"] = source if checked["examples"] else None
    if files and smoke_test_examples and not checked["examples"]:
        context.log.warning("%s: %s held no examples to smoke-test with", owner, source)
    context.log.info(
        "%s: smoke test passed: %r on %d examples gave %s",
        owner,
        SIGNATURE,
        checked["examples"],
        checked["outputs"],
    )
    version, pushed_uri = push_saved_model(serving_dir, destination, log=context.log)
    pushed_model.pushed = True
    pushed_model.version = version
    pushed_model.pushed_uri = pushed_uri
    pushed_model.reason = gate
    context.log.info(
        "%s: pushed %s as version %d: %s", owner, model.uri, version, pushed_uri
    )
    return _result(pushed_model, checked)


def push_saved_model(
    model_dir: str, destination: str, *, log: logging.Logger = log
) -> tuple[int, str]:
    """Copies a SavedModel folder to ``<destination>/<version>/``, the next version.

    The copy goes to a hidden ``<destination>/.tmp-<id>/`` folder first (TF Serving
    ignores names that are not numbers), then is renamed to its version, so on a
    local file system a server never sees half a model. If the version is taken
    meanwhile (another push won the race), the next free one is tried. On any
    failure the hidden folder is removed and no version appears.

    Args:
        model_dir: The SavedModel folder to copy.
        destination: The folder of versions; created if missing.
        log: Where to note races and leftovers of killed pushes.

    Returns:
        The version number and the folder it was pushed to.

    Raises:
        ArtifactStorageError: No free version was found after many tries.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> fs.write_text(fs.join(root, "model", "saved_model.pb"), "")
        >>> push_saved_model(fs.join(root, "model"), fs.join(root, "serving"))[0]
        1
        >>> push_saved_model(fs.join(root, "model"), fs.join(root, "serving"))[0]
        2
        >>> fs.listdir(fs.join(root, "serving"))
        ['1', '2']
    """
    fs.makedirs(destination)
    leftovers = [n for n in fs.listdir(destination) if n.startswith(TEMP_PREFIX)]
    if leftovers:
        log.info(
            "%s holds %s, left by pushes that were killed or are running now; delete "
            "them when no push is running",
            destination,
            leftovers,
        )
    aside = fs.join(destination, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    try:
        fs.copy_tree(model_dir, aside)
        version = next_version(destination)
        for _ in range(_MAX_ATTEMPTS):
            target = fs.join(destination, str(version))
            try:
                fs.move_tree(aside, target)
            except FileExistsError:
                log.info(
                    "Version %d in %s was taken meanwhile; trying the next",
                    version,
                    destination,
                )
                version = max(version + 1, next_version(destination))
                continue
            return version, target
        raise ArtifactStorageError(
            f"Could not push {model_dir} to {destination}: {_MAX_ATTEMPTS} versions in "
            f"a row were taken by other pushes while this one tried. Push again."
        )
    finally:
        fs.remove_tree(aside)


def next_version(destination: str) -> int:
    """One above the highest numeric name in ``destination`` (1 if there is none).

    Names that are not whole numbers (``.tmp-...``, ``README``) are ignored, as TF
    Serving ignores them.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> for name in ["3", "12", "latest", ".tmp-1234"]:
        ...     fs.makedirs(fs.join(root, name))
        >>> next_version(root)
        13
    """
    if not fs.isdir(destination):
        return 1
    numbers = [int(n) for n in fs.listdir(destination) if _VERSION_NAME.fullmatch(n)]
    return max(numbers, default=0) + 1


def _resolve_destination(push_destination: str, context: ExecutionContext) -> str:
    if not push_destination:
        return fs.join(context.pipeline_root, "serving")
    if fs.is_remote(push_destination):
        return push_destination.rstrip("/")
    return os.path.abspath(push_destination)


def _check_model(owner: str, model: Model) -> str:
    serving_dir = model.serving_model_dir
    if not fs.isdir(serving_dir):
        raise FileNotFoundError(
            f"{owner}: the Model at {model.uri} has no serving SavedModel: "
            f"{serving_dir} does not exist. The Model must come from a Trainer, which "
            f"writes it there; a Model of your own must save one with "
            f"tf.saved_model.save(obj, model.serving_model_dir, signatures=...)."
        )
    if not any(fs.exists(fs.join(serving_dir, n)) for n in _SAVED_MODEL_FILES):
        raise FileNotFoundError(
            f"{owner}: {serving_dir} holds no saved_model.pb, so it is not a "
            f"SavedModel (it has {fs.listdir(serving_dir)}). The Model must come from "
            f"a Trainer, or save one with tf.saved_model.save."
        )
    return serving_dir


def _check_destination(owner: str, destination: str) -> None:
    if fs.exists(destination) and not fs.isdir(destination):
        raise ArtifactStorageError(
            f"{owner}: push_destination {destination} is a file; it must be a folder "
            f"(TF Serving's --model_base_path), which is created if missing. Pass "
            f"another path, or move the file away."
        )
    if not fs.can_write(destination):
        raise ArtifactStorageError(
            f"{owner}: push_destination {destination} cannot be written: it or the "
            f"nearest folder above it that exists is not a folder this process may "
            f"write in. Pass a folder you can write to, or fix its permissions."
        )


def _smoke_examples(
    owner: str, model: Model, examples: Examples | None
) -> tuple[str | None, list[str], str]:
    """Where the smoke test's examples come from: (description, files, compression)."""
    from components.stats.artifacts import artifact_splits

    if examples is not None:
        splits = artifact_splits(examples)
        if not splits:
            raise FileNotFoundError(
                f"{owner}: the Examples at {examples.uri} have no splits (no "
                f"split_names property and no Split-* folders); wire an ExampleGen's "
                f"examples, or leave examples out to use the Model's samples."
            )
        split = "eval" if "eval" in splits else splits[0]
        pattern = fs.join(examples.split_uri(split), EXAMPLES_PATTERN)
        files = fs.glob(pattern)
        if not files:
            raise FileNotFoundError(
                f"{owner}: split {split!r} of the Examples at {examples.uri} has no "
                f"example files: nothing matches {pattern}. Examples hold gzip "
                f"TFRecord shards named {EXAMPLES_PATTERN} in each Split-<name> folder."
            )
        return f"split {split!r} of the Examples at {examples.uri}", files, "GZIP"
    if fs.exists(model.sample_examples_path):
        return model.sample_examples_path, [model.sample_examples_path], ""
    return None, [], ""


def _result(
    pushed_model: PushedModel, checked: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "pushed": bool(pushed_model.pushed),
        "version": pushed_model.version,
        "destination": pushed_model.destination,
        "pushed_uri": pushed_model.pushed_uri,
        "reason": pushed_model.reason,
        "smoke_test": checked,
    }
