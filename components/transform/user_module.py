"""The user's module file: loading ``preprocessing_fn`` and explaining its failures.

Three things can go wrong with a module file before any data is read, and each gets a
message that names the file: it is missing, it fails to import (the message shows the
import error and the line), or it has no function of the expected name (with a
did-you-mean over the functions it defines). Two more show up when tensorflow-transform
traces ``preprocessing_fn`` over the schema's features: a feature that the schema does
not have, and an operation given a feature of the wrong type. ``explain_trace_error``
turns those into messages that name the file, the line and the feature.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prep.py"
    >>> _ = path.write_text("def preprocess(inputs):\\n    return dict(inputs)\\n")
    >>> load_preprocessing_fn("Transform", str(path), "preprocess").fn.__name__
    'preprocess'
    >>> try:
    ...     load_preprocessing_fn("Transform", str(path), "preprocessing_fn")
    ... except DefinitionError as err:
    ...     print(str(err).split(".py ")[1])
    has no function 'preprocessing_fn'. Did you mean 'preprocess'? It defines: preprocess. Define preprocessing_fn(inputs) there, or pass preprocessing_fn='preprocess'.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import os
import re
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from pipeline import DefinitionError, did_you_mean, fs

_SCHEMA_TYPES = {0: "TYPE_UNKNOWN", 1: "BYTES", 2: "INT", 3: "FLOAT", 4: "STRUCT"}


def load_preprocessing_fn(
    owner: str,
    module_file: str,
    fn_name: str,
    before_import: Callable[[], Any] | None = None,
) -> TracedPreprocessingFn:
    """Imports ``module_file`` and returns its function ``fn_name``, wrapped.

    The module is executed under a private name and is not left in ``sys.modules``,
    so two Transforms with different module files never see each other's code. Its
    folder is on ``sys.path`` while it is imported, so it may import its neighbours.

    Args:
        owner: Who is asking, for messages (``"Transform 'transform'"``).
        module_file: A local path or URL of a Python file.
        fn_name: The name of the function to return.
        before_import: Called once the file is found and compiles, just before
            it runs (Transform imports tensorflow-transform there, its own way).

    Returns:
        A ``TracedPreprocessingFn``: the function, callable as it is, that remembers
        what it read so that its failures can be explained.

    Raises:
        DefinitionError: The file is missing, fails to import, or has no callable
            ``fn_name``; the import error is the ``__cause__``.
    """
    module = _import_module(owner, module_file, before_import)
    path = module.__file__
    found = getattr(module, fn_name, None)
    if found is None:
        defined = functions_defined_in(module)
        listing = ", ".join(defined) if defined else "no functions"
        suggestion = did_you_mean(fn_name, defined)
        fix = f"Define {fn_name}(inputs) there"
        if defined:
            closest = difflib.get_close_matches(fn_name, defined, n=1) or defined
            fix += f", or pass preprocessing_fn={closest[0]!r}"
        raise DefinitionError(
            f"{owner}: module_file {path} has no function {fn_name!r}.{suggestion} "
            f"It defines: {listing}. {fix}."
        )
    if not callable(found):
        raise DefinitionError(
            f"{owner}: module_file {path}: {fn_name!r} is a "
            f"{type(found).__name__}, not a function. Define it as "
            f"def {fn_name}(inputs): ..."
        )
    return TracedPreprocessingFn(found, owner, path, fn_name)


def _import_module(
    owner: str, module_file: str, before_import: Callable[[], Any] | None
) -> types.ModuleType:
    return import_user_module(
        owner, module_file, "preprocessing_fn(inputs)", before_import
    )


def import_user_module(
    owner: str,
    module_file: str,
    defines: str,
    before_import: Callable[[], Any] | None = None,
    argument: str = "module_file",
) -> types.ModuleType:
    """Imports a user's module file privately; failures become ``DefinitionError``.

    The module runs under a private name and is not left in ``sys.modules``; its
    folder is on ``sys.path`` while it is imported, so it may import its neighbours.

    Args:
        owner: Who is asking, for messages (``"Trainer 'trainer'"``).
        module_file: A local path or URL of a Python file.
        defines: What the file should define, for messages (``"trainer_fn(args)"``).
        before_import: Called once the file is found and compiles, just before it
            runs.
        argument: The argument that named the file, for messages.

    Raises:
        DefinitionError: The file is missing, does not compile or fails to import
            (with the failing line of the file); the error is the ``__cause__``.
    """
    path = module_file if fs.is_remote(module_file) else os.path.abspath(module_file)
    if not fs.exists(path) or fs.isdir(path):
        where = "" if fs.is_remote(module_file) else f" (looked for {path})"
        raise DefinitionError(
            f"{owner}: {argument} {module_file!r} is not a file{where}. Pass the "
            f"path of a Python file that defines {defines}; relative "
            f"paths are taken from the folder the pipeline runs in."
        )
    source = fs.read_text(path)
    name = "_mlpipe_user_module_" + hashlib.sha256(path.encode()).hexdigest()[:12]
    module = types.ModuleType(name)
    module.__file__ = path
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise DefinitionError(
            f"{owner}: {argument} {path} cannot be imported: SyntaxError: {exc.msg} "
            f"(line {exc.lineno}: `{(exc.text or '').strip()}`)."
        ) from exc
    if before_import is not None:
        before_import()
    folder = os.path.dirname(path) if not fs.is_remote(path) else None
    # The module sits in sys.modules only while it runs (dataclasses and typing look
    # it up); left there, Beam would pickle its functions by a name workers lack.
    sys.modules[name] = module
    if folder:
        sys.path.insert(0, folder)
    try:
        exec(code, module.__dict__)  # noqa: S102 - running the user's module is the point
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported
        line = _user_line(exc.__traceback__, path, source)
        raise DefinitionError(
            f"{owner}: {argument} {path} failed to import: "
            f"{type(exc).__name__}: {exc}{line}. Fix the module (its traceback "
            f"follows this message's cause)."
        ) from exc
    finally:
        sys.modules.pop(name, None)
        if folder and sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def functions_defined_in(module: types.ModuleType) -> list[str]:
    """The names of the functions a user module defines itself, sorted."""
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and value.__module__ == module.__name__
        and not name.startswith("__")
    )


def _user_line(tb: Any, path: str, source: str) -> str:
    """' (at line N: `code`)' for the deepest frame of ``tb`` in the user's file."""
    found = _deepest_user_frame(tb, path)
    if found is None:
        return ""
    return f" (at line {found.tb_lineno}: `{_source_line(source, found.tb_lineno)}`)"


def _source_line(source: str, lineno: int) -> str:
    lines = source.splitlines()
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


class UnknownFeatureError(KeyError):
    """``inputs[name]`` for a name the schema does not have."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class SchemaFeatures(dict):
    """The dict of tensors handed to ``preprocessing_fn``, remembering what it reads.

    It behaves as the plain dict tensorflow-transform passes, except that reading a
    feature the schema lacks raises ``UnknownFeatureError`` (a ``KeyError``), and that
    it records the order in which features were read.

    Example:
        >>> inputs = SchemaFeatures({"fare": 1.0, "tips": 0.5})
        >>> inputs["fare"], inputs.read
        (1.0, ['fare'])
        >>> inputs["tip"]
        Traceback (most recent call last):
        ...
        components.transform.user_module.UnknownFeatureError: 'tip'
    """

    def __init__(self, tensors: Mapping[str, Any]):
        super().__init__(tensors)
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        self.read.append(key)
        return value

    def __missing__(self, key: str) -> Any:
        raise UnknownFeatureError(key)


class TracedPreprocessingFn:
    """Wraps a user's ``preprocessing_fn`` so that its failures can be explained.

    Args:
        fn: The user's function.
        owner: Who runs it, for messages.
        path: The module file it comes from.
        fn_name: Its name in the module.

    Attributes:
        inputs: The ``SchemaFeatures`` of the last call (None before the first).
    """

    def __init__(self, fn: Callable, owner: str, path: str, fn_name: str):
        self.fn = fn
        self.owner = owner
        self.path = path
        self.fn_name = fn_name
        self.inputs: SchemaFeatures | None = None

    def __getstate__(self) -> dict[str, Any]:
        # tensorflow-transform pickles the function; the traced tensors cannot be.
        return {**self.__dict__, "inputs": None}

    def __call__(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        self.inputs = SchemaFeatures(inputs)
        outputs = self.fn(self.inputs)
        if not isinstance(outputs, Mapping) or not outputs:
            raise DefinitionError(
                f"{self.owner}: {self.fn_name} in {self.path} must return a non-empty "
                f"dict of feature name -> tensor; it returned "
                f"{type(outputs).__name__} {_short(outputs)}."
            )
        bad = [k for k in outputs if not isinstance(k, str)]
        if bad:
            raise DefinitionError(
                f"{self.owner}: {self.fn_name} in {self.path} returned non-string "
                f"keys {bad!r}; output features are named by strings."
            )
        return dict(outputs)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def explain_trace_error(
    exc: BaseException,
    traced: TracedPreprocessingFn,
    schema: Any,
    schema_path: str,
) -> DefinitionError | None:
    """A message for an error raised while tensorflow-transform traced the user's code.

    Args:
        exc: What was raised while the Beam pipeline was being built.
        traced: The wrapped ``preprocessing_fn`` that was traced.
        schema: The raw ``Schema`` proto the inputs came from.
        schema_path: Where that schema was read from, for the message.

    Returns:
        A ``DefinitionError`` naming the file, line and feature, or None when the
        error did not come from the user's code (the caller re-raises it as it is).
    """
    if isinstance(exc, DefinitionError):
        return None
    source = _read_source(traced.path)
    frame_tb = _deepest_user_frame(exc.__traceback__, traced.path)
    where = ""
    if frame_tb is not None:
        where = (
            f" at line {frame_tb.tb_lineno} "
            f"(`{_source_line(source, frame_tb.tb_lineno)}`)"
        )
    types_by_name = {f.name: _SCHEMA_TYPES.get(f.type, "?") for f in schema.feature}
    unknown = _find_in_chain(exc, UnknownFeatureError)
    if unknown is not None:
        available = sorted(types_by_name)
        return DefinitionError(
            f"{traced.owner}: {traced.fn_name} in {traced.path}{where} reads the "
            f"feature {unknown.name!r}, which the schema {schema_path} does not have."
            f"{did_you_mean(unknown.name, available)} The schema's features: "
            f"{', '.join(available)}. Check the name, or test for optional features "
            f"with `if {unknown.name!r} in inputs`."
        )
    if frame_tb is None:
        return None
    inputs = traced.inputs if traced.inputs is not None else {}
    features = _features_on_line(frame_tb, source, inputs)
    if not features and traced.inputs is not None:
        features = list(dict.fromkeys(traced.inputs.read))[-1:]
    message = (
        f"{traced.owner}: {traced.fn_name} in {traced.path} failed{where}: "
        f"{type(exc).__name__}: {_first_line(exc).rstrip('.')}."
    )
    for name in features:
        message += (
            f" The feature {name!r} is {types_by_name.get(name, '?')} in the schema "
            f"and reaches {traced.fn_name} as {_describe_tensor(inputs.get(name))}."
        )
    if isinstance(exc, (TypeError, ValueError)) and features:
        message += (
            " Convert it to the type the operation expects (tf.cast, "
            "tf.strings.as_string, tf.strings.to_number), or fix the schema."
        )
    return DefinitionError(message)


def _read_source(path: str) -> str:
    try:
        return fs.read_text(path)
    except (OSError, UnicodeDecodeError):
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _deepest_user_frame(tb: Any, path: str) -> Any:
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            found = tb
        tb = tb.tb_next
    return found


def _find_in_chain(exc: BaseException, kind: type) -> Any:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _features_on_line(tb: Any, source: str, inputs: Mapping[str, Any]) -> list[str]:
    """The input features that the failing line names, directly or through variables.

    A string literal naming a feature counts, and so does a variable that holds a
    feature's name, the feature's tensor, or a tensor computed from it.
    """
    line = _source_line(source, tb.tb_lineno)
    if not line or not inputs:
        return []
    origins = _tensor_origins(inputs)
    frame = tb.tb_frame
    found: list[str] = []
    literals = [m[1] for m in re.findall(r"""(['"])(.*?)\1""", line)]
    for literal in literals:
        if literal in inputs:
            found.append(literal)
    for name in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", line):
        if name in frame.f_locals:
            value = frame.f_locals[name]
        elif name in frame.f_globals:
            value = frame.f_globals[name]
        else:
            continue
        if isinstance(value, str) and value in inputs:
            found.append(value)
        elif not isinstance(value, (str, bytes, int, float, type, types.ModuleType)):
            found.extend(_ancestors_in(value, origins))
    return list(dict.fromkeys(found))


def _components(value: Any) -> list[Any]:
    parts = []
    for attr in (
        "indices",
        "values",
        "dense_shape",
        "flat_values",
        "nested_row_splits",
    ):
        part = getattr(value, attr, None)
        if isinstance(part, (list, tuple)):
            parts.extend(part)
        elif part is not None and not isinstance(part, (int, str)):
            parts.append(part)
    return parts or [value]


def _tensor_origins(inputs: Mapping[str, Any]) -> dict[Any, str]:
    origins = {}
    for name, value in inputs.items():
        for part in _components(value):
            ref = _ref(part)
            if ref is not None:
                origins[ref] = name
    return origins


def _ref(tensor: Any) -> Any:
    try:
        return tensor.ref()
    except (AttributeError, TypeError):
        return None


def _ancestors_in(value: Any, origins: dict[Any, str], limit: int = 2000) -> list[str]:
    """The input features a (symbolic) tensor was computed from."""
    found: list[str] = []
    stack = list(_components(value))
    seen: set[Any] = set()
    while stack and len(seen) < limit:
        tensor = stack.pop()
        ref = _ref(tensor)
        if ref is None or ref in seen:
            continue
        seen.add(ref)
        if ref in origins:
            found.append(origins[ref])
            continue
        op = getattr(tensor, "op", None)
        try:
            stack.extend(op.inputs if op is not None else ())
        except (AttributeError, TypeError, ValueError):
            continue
    return sorted(set(found))


def _describe_tensor(value: Any) -> str:
    if value is None:
        return "nothing"
    kind = type(value).__name__
    if kind not in ("SparseTensor", "RaggedTensor"):
        kind = "Tensor"
    dtype = getattr(getattr(value, "dtype", None), "name", "?")
    shape = getattr(value, "shape", None)
    dims = (
        "[" + ", ".join("None" if d is None else str(d) for d in shape.as_list()) + "]"
        if shape is not None and shape.rank is not None
        else "unknown"
    )
    article = "an" if dtype[:1] in "aeiou" else "a"
    return f"{article} {dtype} {kind} of shape {dims}"
