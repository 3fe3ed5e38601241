"""The smoke test a model passes before it is pushed: load it, call it, check it.

``smoke_test`` runs the checks in a fresh Python process (``python -m
components.pusher``), as a server would meet the model: nothing the training
process registered (custom ops, Python objects) can hide a model that does not load
on its own, a crash inside TensorFlow fails the smoke test instead of the pipeline,
and the model's memory goes away with the process.

The checks, in order; the first that fails ends the test:

1. ``load``: ``tf.saved_model.load`` of the SavedModel folder.
2. ``signature``: it has a ``serving_default`` signature, whose one input is a
   ``tf.string`` tensor of shape ``[None]`` (serialized tf.Examples).
3. ``read examples``: up to ``count`` serialized tf.Examples from the TFRecord files.
4. ``run``: the signature called on them.
5. ``outputs``: every output has a batch dimension equal to the number of examples,
   and numeric outputs hold no NaN or infinity.

Example:
    >>> smoke_test("/no/such/model")
    Traceback (most recent call last):
    ...
    components.pusher.smoke.SmokeTestError: The SavedModel /no/such/model failed its smoke test (load, signature 'serving_default'): there is no such folder. ...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from pipeline import fs

SIGNATURE = "serving_default"
_PACKAGE_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
_STDERR_TAIL = 2000
_FIXES = {
    "load": "Check that the folder holds a whole SavedModel written by "
    "tf.saved_model.save (a Trainer's Format-Serving), and that every op it uses is "
    "built into TensorFlow.",
    "signature": f"Export the model with signatures={{{SIGNATURE!r}: fn}}, where fn "
    "takes one tf.TensorSpec([None], tf.string) of serialized tf.Examples.",
    "read examples": "Check that the example files are TFRecords of serialized "
    "tf.Examples.",
    "run": "Call the signature on the same examples yourself to see the full error; "
    "the examples must have every feature the model parses.",
    "outputs": "Every output must have one row per example; NaN or infinite values "
    "usually mean the training diverged.",
}


class SmokeTestError(RuntimeError):
    """A model failed its smoke test; the message says at which check and why.

    Attributes:
        stage: The check that failed: load, signature, read examples, run, outputs
            or process (the test's process crashed or ran out of time).
    """

    def __init__(self, message: str, stage: str):
        super().__init__(message)
        self.stage = stage


def smoke_test(
    model_dir: str,
    example_files: Sequence[str] = (),
    *,
    compression: str = "",
    count: int = 8,
    timeout_s: float = 600,
    in_subprocess: bool = True,
) -> dict[str, Any]:
    """Loads a serving SavedModel (in a fresh process by default) and calls it on a
    few examples.

    Args:
        model_dir: The SavedModel folder (a local path or a URL).
        example_files: TFRecord files of serialized tf.Examples; with none (or
            ``count`` 0) only the load and the signature are checked.
        compression: ``"GZIP"`` for gzip files, ``""`` for plain TFRecords.
        count: The most examples to call the model on.
        timeout_s: The longest the test's process may take.
        in_subprocess: Run the checks in a fresh Python process (isolated from this
            one's imports and crashes; costs TensorFlow's start-up, a few seconds).
            With False they run here and ``timeout_s`` does not apply.

    Returns:
        What was checked: ``{"signature", "input", "examples", "outputs": {name:
        {"dtype", "shape"}}}``.

    Raises:
        SmokeTestError: A check failed, or the process crashed or timed out; the
            message names the folder, the signature, the check and the error.
    """
    if not fs.isdir(model_dir):
        raise SmokeTestError(
            f"The SavedModel {model_dir} failed its smoke test (load, signature "
            f"{SIGNATURE!r}): there is no such folder. {_FIXES['load']}",
            "load",
        )
    if not in_subprocess:
        result = run_checks(
            model_dir, list(example_files) if count else [], compression, count
        )
        return _checked(model_dir, result)
    request = {
        "model_dir": model_dir,
        "example_files": list(example_files) if count else [],
        "compression": compression,
        "count": count,
    }
    with tempfile.TemporaryDirectory(prefix="mlpipe-smoke-") as scratch:
        request_path = os.path.join(scratch, "request.json")
        result_path = os.path.join(scratch, "result.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p
        )
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # CPU only: the pipeline's own process may hold the GPU, and a few examples
        # do not need one.
        env["CUDA_VISIBLE_DEVICES"] = "-1"
        command = [sys.executable, "-m", "components.pusher"]
        try:
            done = subprocess.run(
                [*command, request_path, result_path],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SmokeTestError(
                f"The SavedModel {model_dir} did not finish its smoke test in "
                f"{timeout_s:g}s (signature {SIGNATURE!r}, {count} examples). A model "
                f"that hangs on a few examples would hang a server too.",
                "process",
            ) from None
        if not os.path.exists(result_path):
            tail = (done.stderr or "").strip()[-_STDERR_TAIL:]
            raise SmokeTestError(
                f"The process that smoke-tested the SavedModel {model_dir} (signature "
                f"{SIGNATURE!r}) ended with exit code {done.returncode} before it "
                f"reported; a negative code is the signal that killed it. Its last "
                f"output:\n{tail}",
                "process",
            )
        with open(result_path) as f:
            result = json.load(f)
    return _checked(model_dir, result)


def _checked(model_dir: str, result: dict[str, Any]) -> dict[str, Any]:
    if not result["ok"]:
        stage = result["stage"]
        raise SmokeTestError(
            f"The SavedModel {model_dir} failed its smoke test ({stage}, signature "
            f"{SIGNATURE!r}): {result['error']} {_FIXES[stage]}",
            stage,
        )
    return {k: result[k] for k in ("signature", "input", "examples", "outputs")}


def run_checks(
    model_dir: str, example_files: Sequence[str], compression: str, count: int
) -> dict[str, Any]:
    """The checks themselves, in this process; ``smoke_test`` runs them in another.

    Returns:
        ``{"ok": True, ...what was checked}`` or ``{"ok": False, "stage", "error"}``.
    """
    import numpy as np
    import tensorflow as tf

    result: dict[str, Any] = {"signature": SIGNATURE, "input": None, "examples": 0}
    result["outputs"] = {}

    def failed(stage: str, error: str) -> dict[str, Any]:
        return {**result, "ok": False, "stage": stage, "error": error}

    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return failed("load", _first_line(exc))
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SIGNATURE not in signatures:
        return failed(
            "signature",
            f"the SavedModel has no such signature; it has {sorted(signatures)}.",
        )
    function = signatures[SIGNATURE]
    args, kwargs = function.structured_input_signature
    specs = {**{str(i): s for i, s in enumerate(args)}, **kwargs}
    described = {name: _describe_spec(spec) for name, spec in sorted(specs.items())}
    if len(specs) != 1:
        return failed("signature", f"it takes {len(specs)} inputs {described}.")
    name, spec = next(iter(specs.items()))
    result["input"] = name
    rank = spec.shape.rank
    if spec.dtype != tf.string or (rank is not None and rank != 1):
        return failed(
            "signature",
            f"its input {name!r} is {described[name]}, not a tf.string of shape [None].",
        )
    try:
        dataset = tf.data.TFRecordDataset(
            list(example_files), compression_type=compression
        )
        records = [r.numpy() for r in dataset.take(count)] if example_files else []
    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
        return failed("read examples", f"{list(example_files)}: {_first_line(exc)}")
    result["examples"] = len(records)
    if not records:
        return {**result, "ok": True}
    try:
        outputs = function(**{name: tf.constant(records, tf.string)})
    except Exception as exc:  # noqa: BLE001 - any failure of the model is the finding
        return failed(
            "run", f"calling it on {len(records)} examples raised {_first_line(exc)}"
        )
    for key, value in sorted(outputs.items()):
        value = np.asarray(value)
        result["outputs"][key] = {"dtype": str(value.dtype), "shape": list(value.shape)}
        if value.ndim == 0 or value.shape[0] != len(records):
            return failed(
                "outputs",
                f"output {key!r} has shape {list(value.shape)} for {len(records)} "
                f"examples; its first dimension must be {len(records)}.",
            )
        if np.issubdtype(value.dtype, np.number):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            if bad:
                return failed(
                    "outputs",
                    f"output {key!r} has {bad} NaN or infinite values among "
                    f"{np.size(value)} (for {len(records)} examples).",
                )
    return {**result, "ok": True}


def _describe_spec(spec: Any) -> str:
    dtype = getattr(getattr(spec, "dtype", None), "name", type(spec).__name__)
    shape = getattr(spec, "shape", None)
    return f"{dtype}{shape.as_list() if shape is not None and shape.rank is not None else ''}"


def _first_line(exc: BaseException) -> str:
    """The exception's type and its first informative line: TensorFlow puts it after
    a "Graph execution error" header and the stack of the op that failed."""
    import re

    skipped = ("Graph execution error", "Detected at node", "<stack traces")
    text = str(getattr(exc, "message", None) or exc)
    for line in text.splitlines():
        if not line.strip() or line[0].isspace() or line.startswith(skipped):
            continue
        line = re.sub(r"\{\{function_node [^}]*\}\}\s*|^Name: <unknown>, ", "", line)
        return f"{type(exc).__name__}: {line.strip()}"
    return type(exc).__name__


def main(argv: Sequence[str]) -> int:
    """``python -m components.pusher REQUEST.json RESULT.json``: runs the checks the
    request asks for and writes their result."""
    request_path, result_path = argv
    with open(request_path) as f:
        request = json.load(f)
    result = run_checks(
        request["model_dir"],
        request["example_files"],
        request["compression"],
        request["count"],
    )
    with open(result_path + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(result_path + ".tmp", result_path)
    return 0
