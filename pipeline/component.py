"""Components: typed inputs, outputs and parameters around a piece of user code.

A component is usually one decorated function whose signature is its spec:

Example:
    >>> from pipeline import Input, Output, Parameter, Examples, component
    >>> @component
    ... def drop_outliers(
    ...     examples: Input[Examples], max_fare: Parameter[float], cleaned: Output[Examples]
    ... ):
    ...     '''Copies examples whose fare is at most max_fare.'''
    >>> sorted(drop_outliers.spec.inputs), sorted(drop_outliers.spec.parameters)
    (['examples'], ['max_fare'])

Calling the component with its inputs and parameters makes an instance for a pipeline;
``drop_outliers.fn`` is the plain function, for unit tests. Larger components that need
several methods subclass ``Component`` and declare the same markers as class
annotations; their ``execute`` method receives the same keyword arguments::

    class Trainer(Component):
        examples: Input[Examples]
        train_steps: Parameter[int] = 1000
        model: Output[Model]

        def execute(self, examples, train_steps, model): ...

Markers:
    ``Input[T]``: an artifact of type T read by the component; optional with ``= None``.
    ``Output[T]``: an artifact of type T that the component writes under ``artifact.uri``.
    ``Parameter[T]``: a JSON value, or a plain annotated keyword (``steps: int = 10``).
    ``Parameter[ModuleFile]``: a path to a user module; its content is part of the cache key.
    ``Parameter[InputPath]``: input data files; their names, sizes and times join the key.
    ``ExecutionContext``: annotate one argument with it to receive the run's context.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from pipeline import registry
from pipeline.artifacts import Artifact
from pipeline.channels import Channel, Outputs
from pipeline.errors import DefinitionError, did_you_mean

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Marker:
    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"


_INPUT, _OUTPUT, _PARAMETER, _MODULE_FILE, _INPUT_PATH = (
    _Marker("input"),
    _Marker("output"),
    _Marker("parameter"),
    _Marker("module file"),
    _Marker("input path"),
)


class Input:
    """``Input[Examples]``: an artifact the component reads."""

    def __class_getitem__(cls, artifact_type: type) -> Any:
        return Annotated[artifact_type, _INPUT]


class Output:
    """``Output[Model]``: an artifact the component writes under ``artifact.uri``."""

    def __class_getitem__(cls, artifact_type: type) -> Any:
        return Annotated[artifact_type, _OUTPUT]


class Parameter:
    """``Parameter[int]``: a JSON value fixed when the pipeline is written."""

    def __class_getitem__(cls, value_type: Any) -> Any:
        return Annotated[value_type, _PARAMETER]


ModuleFile = Annotated[str, _MODULE_FILE]
"""A path to a user's Python module; a change to the file's content invalidates the cache."""

InputPath = Annotated[str, _INPUT_PATH]
"""A file, folder or glob of input data; a file added, removed or changed invalidates
the cache (names, sizes and modification times are compared, not contents)."""


@dataclasses.dataclass
class ExecutionContext:
    """What a running component may want to know about its run.

    Attributes:
        pipeline_name: The pipeline's name.
        pipeline_root: The root under which every artifact of the pipeline lives.
        run_id: The run this execution belongs to.
        component_id: The id of the running component instance.
        execution_id: The execution's id in the metadata store.
        beam_pipeline_args: Options for any Beam pipeline the component builds.
        log: A logger named after the component.
    """

    pipeline_name: str
    pipeline_root: str
    run_id: str
    component_id: str
    execution_id: int
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)
    log: logging.Logger = dataclasses.field(
        default_factory=lambda: logging.getLogger("mlpipe")
    )


_MISSING = inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class Resolver:
    """Where the runner finds an input left unwired: a query of the metadata store.

    Used as an input's default, e.g. ``baseline_model: Input[Model] =
    LATEST_BLESSED_MODEL``. The artifact found joins the execution's cache key and
    lineage as if it had been wired; passing ``None`` for the input turns the
    lookup off.

    Attributes:
        description: Words for logs, e.g. "the latest blessed model".
        query: The name of a ``MetadataStore`` method that takes the pipeline name
            and returns an artifact or None.
    """

    description: str
    query: str

    def resolve(self, store: Any, pipeline_name: str) -> Any:
        """The artifact the store holds for ``pipeline_name``, or None."""
        return getattr(store, self.query)(pipeline_name)


LATEST_BLESSED_MODEL = Resolver(
    "the latest blessed model of this pipeline", "latest_blessed_model"
)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """A declared input: its name, artifact type, whether it may be left unwired and
    the ``Resolver`` that fills it when unwired."""

    name: str
    type: type
    optional: bool = False
    resolver: Resolver | None = None


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """A declared output: its name and artifact type."""

    name: str
    type: type


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """A declared parameter: its name, annotation and default (``inspect.Parameter.empty``
    when required)."""

    name: str
    annotation: Any
    default: Any = _MISSING
    module_file: bool = False
    input_path: bool = False

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """The typed signature of a component."""

    inputs: dict[str, InputSpec]
    outputs: dict[str, OutputSpec]
    parameters: dict[str, ParameterSpec]
    context_arg: str | None = None

    def names(self) -> list[str]:
        """Every name a caller may pass: inputs and parameters."""
        return [*self.inputs, *self.parameters]


def _is_artifact_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, Artifact)


def _parse_annotation(
    owner: str, name: str, annotation: Any, default: Any
) -> InputSpec | OutputSpec | ParameterSpec | str:
    """Turns one annotated argument into its spec; returns "context" for the context."""
    if annotation is ExecutionContext:
        return "context"
    markers: tuple = ()
    if typing.get_origin(annotation) in (Union, types.UnionType):
        # Python 3.10 wraps `x: Input[T] = None` in Optional; so may users.
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(others) == 1 and typing.get_origin(others[0]) is Annotated:
            annotation = others[0]
    base = annotation
    if typing.get_origin(annotation) is Annotated:
        base = annotation.__origin__
        markers = tuple(m for m in annotation.__metadata__ if isinstance(m, _Marker))
    if typing.get_origin(base) in (Union, types.UnionType):
        # `Parameter[InputPath | None]`: the marker sits on a member of the union.
        for member in typing.get_args(base):
            if typing.get_origin(member) is Annotated:
                markers += tuple(
                    m for m in member.__metadata__ if isinstance(m, _Marker)
                )
    if _INPUT in markers:
        if not _is_artifact_type(base):
            raise DefinitionError(
                f"{owner}: input {name!r} is Input[{base!r}]; Input[...] takes an artifact "
                f"type such as Input[Examples]."
            )
        if isinstance(default, Resolver):
            return InputSpec(name, base, optional=True, resolver=default)
        if default is not _MISSING and default is not None:
            raise DefinitionError(
                f"{owner}: input {name!r} may only default to None (an optional input) "
                f"or to a Resolver such as LATEST_BLESSED_MODEL."
            )
        return InputSpec(name, base, optional=default is None)
    if _OUTPUT in markers:
        if not _is_artifact_type(base):
            raise DefinitionError(
                f"{owner}: output {name!r} is Output[{base!r}]; Output[...] takes an artifact "
                f"type such as Output[Model]."
            )
        if default is not _MISSING:
            raise DefinitionError(
                f"{owner}: output {name!r} cannot have a default value."
            )
        return OutputSpec(name, base)
    if _is_artifact_type(base):
        raise DefinitionError(
            f"{owner}: argument {name!r} is annotated with the artifact type "
            f"{base.__name__}; write Input[{base.__name__}] or Output[{base.__name__}]."
        )
    if annotation is _MISSING:
        raise DefinitionError(
            f"{owner}: argument {name!r} has no annotation; annotate it as Input[...], "
            f"Output[...], Parameter[...] or a plain type such as int."
        )
    spec = ParameterSpec(
        name,
        base,
        default,
        module_file=_MODULE_FILE in markers,
        input_path=_INPUT_PATH in markers,
    )
    if not spec.required:
        _check_value(owner, name, base, default, what="default of parameter")
    return spec


def _spec_from_function(owner: str, fn: Callable) -> ComponentSpec:
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise DefinitionError(
            f"{owner}: cannot resolve the annotations of {fn.__qualname__}: "
            f"{type(exc).__name__}: {exc}. Define the types it names at module level."
        ) from exc
    inputs, outputs, parameters, context_arg = {}, {}, {}, None
    for name, param in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        if param.kind in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
            param.POSITIONAL_ONLY,
        ):
            raise DefinitionError(
                f"{owner}: argument {name!r} must be a plain named argument "
                f"(no *args, **kwargs or positional-only arguments)."
            )
        parsed = _parse_annotation(
            owner, name, hints.get(name, _MISSING), param.default
        )
        if parsed == "context":
            context_arg = name
        elif isinstance(parsed, InputSpec):
            inputs[name] = parsed
        elif isinstance(parsed, OutputSpec):
            outputs[name] = parsed
        else:
            parameters[name] = parsed
    return ComponentSpec(inputs, outputs, parameters, context_arg)


def _spec_from_class(cls: type) -> ComponentSpec:
    owner = cls.__name__
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise DefinitionError(
            f"{owner}: cannot resolve its annotations: {type(exc).__name__}: {exc}."
        ) from exc
    inputs, outputs, parameters = {}, {}, {}
    for name, annotation in hints.items():
        if typing.get_origin(annotation) is ClassVar or name.startswith("_"):
            continue
        if name in ("name", "spec", "fn", "version", "id", "outputs"):
            continue
        default = cls.__dict__.get(name, _MISSING)
        for base in cls.__mro__[1:]:
            if default is _MISSING:
                default = base.__dict__.get(name, _MISSING)
        parsed = _parse_annotation(owner, name, annotation, default)
        if isinstance(parsed, InputSpec):
            inputs[name] = parsed
        elif isinstance(parsed, OutputSpec):
            outputs[name] = parsed
        elif isinstance(parsed, ParameterSpec):
            parameters[name] = parsed
    execute_params = inspect.signature(cls.execute).parameters
    context_arg = next(
        (
            n
            for n, p in execute_params.items()
            if p.annotation in (ExecutionContext, "ExecutionContext")
        ),
        None,
    )
    accepts_all = any(p.kind is p.VAR_KEYWORD for p in execute_params.values())
    if not accepts_all:
        missing = [
            n for n in [*inputs, *outputs, *parameters] if n not in execute_params
        ]
        if missing:
            raise DefinitionError(
                f"{owner}.execute must accept every declared input, output and parameter "
                f"as a keyword argument (or **kwargs); it lacks {missing}."
            )
    return ComponentSpec(inputs, outputs, parameters, context_arg)


def _check_value(owner: str, name: str, annotation: Any, value: Any, what: str) -> None:
    if not _matches(annotation, value):
        raise DefinitionError(
            f"{owner}: {what} {name!r} must be {_describe(annotation)}, "
            f"got {type(value).__name__} {value!r}."
        )


def _matches(annotation: Any, value: Any) -> bool:
    if annotation in (Any, _MISSING):
        return True
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _matches(annotation.__origin__, value)
    if origin in (Union, types.UnionType):
        return any(_matches(arg, value) for arg in typing.get_args(annotation))
    if origin is Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    check = origin or annotation
    if isinstance(check, type):
        if not isinstance(value, check):
            return False
        args = typing.get_args(annotation)
        if check in (list, tuple, set, frozenset) and args and args[-1] is not Ellipsis:
            return all(_matches(args[0], item) for item in value)
        if check is dict and len(args) == 2:
            return all(
                _matches(args[0], k) and _matches(args[1], v) for k, v in value.items()
            )
        return True
    return True


def _check_json(owner: str, name: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(
            f"{owner}: parameter {name!r} must be a JSON value (number, string, bool, "
            f"list, dict or None) so it can be recorded and cached; got "
            f"{type(value).__name__}: {exc}."
        ) from None


def _describe(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def _source_hash(obj: Any) -> str:
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        source = f"{obj.__module__}.{obj.__qualname__}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


class Component:
    """The base of every component; an instance is one node of a pipeline.

    Subclass it for a component that needs several methods; use ``@component`` for the
    rest. Create instances with keyword arguments: channels for inputs, values for
    parameters.

    Args:
        **kwargs: The component's inputs (``Channel``s, from ``other.outputs[...]``) and
            parameters (JSON values).

    Raises:
        DefinitionError: An unknown argument, a missing required input or parameter, a
            parameter of the wrong type, or an input wired to the wrong artifact type.

    Attributes:
        id: The instance's id in its pipeline (the component name unless ``with_id``).
        outputs: The typed mapping of this instance's output channels.
        inputs: The wired input channels by name.
        parameters: The parameter values by name, defaults included.
    """

    name: ClassVar[str]
    spec: ClassVar[ComponentSpec]
    version: ClassVar[str | Callable[[], str] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" not in cls.__dict__:
            cls.spec = _spec_from_class(cls)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        registry.register_component(cls)

    def __init__(self, *args: Any, **kwargs: Any):
        owner = f"{type(self).name}"
        if args:
            raise DefinitionError(
                f"{owner}: pass inputs and parameters by keyword, e.g. "
                f"{owner}({', '.join(f'{n}=...' for n in self.spec.names()[:2])})."
            )
        self.id: str = type(self).name
        self.enable_cache: bool | None = None
        self.beam_pipeline_args: list[str] | None = None
        self.inputs: dict[str, Channel] = {}
        # Inputs with a Resolver that the user turned off by passing None.
        self.unresolved_inputs: set[str] = set()
        self.parameters: dict[str, Any] = {}
        self._after: list[Component] = []
        self._bind(owner, kwargs)
        self.outputs = Outputs(self)

    def _bind(self, owner: str, kwargs: dict[str, Any]) -> None:
        spec = self.spec
        for key, value in kwargs.items():
            if key in spec.inputs:
                self._bind_input(owner, spec.inputs[key], value)
            elif key in spec.parameters:
                param = spec.parameters[key]
                if isinstance(value, (Channel, Component)):
                    raise DefinitionError(
                        f"{owner}: {key!r} is a parameter, not an input; pass a value, "
                        f"not {value!r}."
                    )
                _check_value(owner, key, param.annotation, value, what="parameter")
                _check_json(owner, key, value)
                self.parameters[key] = value
            elif key in spec.outputs:
                raise DefinitionError(
                    f"{owner}: {key!r} is an output; outputs are not passed in. Read it "
                    f"as {owner.lower()}_instance.outputs[{key!r}]."
                )
            else:
                raise DefinitionError(
                    f"{owner}: unknown argument {key!r}.{did_you_mean(key, spec.names())} "
                    f"It takes inputs {list(spec.inputs)} and parameters {list(spec.parameters)}."
                )
        missing_inputs = [
            n for n, s in spec.inputs.items() if not s.optional and n not in self.inputs
        ]
        missing_params = [
            n
            for n, s in spec.parameters.items()
            if s.required and n not in self.parameters
        ]
        if missing_inputs or missing_params:
            parts = []
            if missing_inputs:
                parts.append(f"input(s) {missing_inputs}")
            if missing_params:
                parts.append(f"parameter(s) {missing_params}")
            raise DefinitionError(
                f"{owner}: missing required {' and '.join(parts)}. "
                f"Pass them as keywords: "
                f"{owner}({', '.join(f'{n}=...' for n in missing_inputs + missing_params)})."
            )
        for name, param in spec.parameters.items():
            if name not in self.parameters:
                self.parameters[name] = param.default

    def _bind_input(self, owner: str, input_spec: InputSpec, value: Any) -> None:
        name, expected = input_spec.name, input_spec.type
        if value is None and input_spec.optional:
            if input_spec.resolver is not None:
                self.unresolved_inputs.add(name)
            return
        if isinstance(value, Component):
            matching = [
                c
                for c in value.outputs.values()
                if issubclass(c.artifact_type, expected)
            ]
            hint = f" Pass {matching[0]!r}." if matching else ""
            raise DefinitionError(
                f"{owner}: input {name!r} got the component {value.id!r} itself; "
                f"pass one of its outputs.{hint}"
            )
        if not isinstance(value, Channel):
            raise DefinitionError(
                f"{owner}: input {name!r} expects an output channel such as "
                f"gen.outputs['examples'], got {type(value).__name__} {value!r}."
            )
        if not issubclass(value.artifact_type, expected):
            matching = [
                c
                for c in value.producer.outputs.values()
                if issubclass(c.artifact_type, expected)
            ]
            hint = f" Did you mean {matching[0]!r}?" if matching else ""
            raise DefinitionError(
                f"{owner}: input {name!r} expects {expected.TYPE_NAME}, but {value!r} "
                f"is {value.artifact_type.TYPE_NAME}.{hint}"
            )
        self.inputs[name] = value

    def with_id(self, component_id: str) -> Component:
        """Sets the instance's id (needed when one component appears twice); returns self."""
        if not isinstance(component_id, str) or not _ID_PATTERN.match(component_id):
            raise DefinitionError(
                f"{type(self).name}: id {component_id!r} is not valid; use letters, digits, "
                f"'_', '.' and '-', starting with a letter or digit."
            )
        self.id = component_id
        return self

    def with_cache(self, enabled: bool) -> Component:
        """Turns result caching on or off for this instance only; returns self."""
        self.enable_cache = bool(enabled)
        return self

    def with_beam_args(self, args: list[str]) -> Component:
        """Sets Beam pipeline options for this instance, over the pipeline's; returns self."""
        self.beam_pipeline_args = list(args)
        return self

    def after(self, *components: Component) -> Component:
        """Runs this instance only after ``components``, even without a data dependency."""
        for other in components:
            if not isinstance(other, Component):
                raise DefinitionError(
                    f"{self.id}.after() takes component instances, got {other!r}."
                )
            self._after.append(other)
        return self

    @property
    def upstream(self) -> list[Component]:
        """The instances this one depends on: the producers of its inputs, then ``after``."""
        found: list[Component] = []
        for node in [c.producer for c in self.inputs.values()] + self._after:
            if not any(node is seen for seen in found):
                found.append(node)
        return found

    @classmethod
    def code_version(cls) -> str:
        """A hash of the component's source code (or its declared ``version``)."""
        if callable(cls.version):
            cls.version = cls.version()
        if cls.version:
            return cls.version
        target = getattr(cls, "fn", None) or cls
        return _source_hash(target)

    def execute(self, **kwargs: Any) -> dict[str, Any] | None:
        """Runs the component; receives its inputs, outputs and parameters by name.

        Returns:
            None, or a dict of JSON values recorded on the execution.
        """
        raise NotImplementedError(f"{type(self).name} must implement execute(...).")

    def __repr__(self) -> str:
        return f"<{type(self).name} id={self.id!r}>"


def _unset_resolver_defaults(func: Callable) -> None:
    """Makes a ``Resolver`` default read as None when ``.fn`` is called directly.

    The spec keeps the resolver for the runner, which always passes every input;
    a test or a user calling the plain function gets "no such input" instead of a
    ``Resolver`` object.
    """
    if func.__defaults__:
        func.__defaults__ = tuple(
            None if isinstance(d, Resolver) else d for d in func.__defaults__
        )
    if func.__kwdefaults__:
        func.__kwdefaults__ = {
            k: None if isinstance(d, Resolver) else d
            for k, d in func.__kwdefaults__.items()
        }


def source_version(*modules: str) -> Callable[[], str]:
    """A code version computed, on first use, from the source files of modules.

    For components whose behaviour lives in helper modules as well as in the decorated
    function: a change to any file of the named modules or packages invalidates the
    cache.

    Args:
        *modules: Importable module or package names; a package covers all its files.

    Example:
        >>> len(source_version("pipeline.errors")())
        16
    """

    def compute() -> str:
        import importlib.util
        import pathlib

        digest = hashlib.sha256()
        for name in modules:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise DefinitionError(f"source_version: no module named {name!r}.")
            origin = pathlib.Path(spec.origin)
            files = (
                sorted(origin.parent.rglob("*.py"))
                if origin.name == "__init__.py"
                else [origin]
            )
            for path in files:
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]

    return compute


def component(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    version: str | Callable[[], str] | None = None,
) -> Any:
    """Makes a component of a function; its signature is the component's spec.

    Args:
        fn: The function. Its arguments are annotated with ``Input[...]``, ``Output[...]``,
            ``Parameter[...]`` (or plain types, for parameters) and optionally
            ``ExecutionContext``. It returns None or a dict of JSON values.
        name: The registered name (default: the function's name).
        version: A fixed code version for caching, or a callable that computes it
            (such as ``source_version(...)``); default: a hash of the function's source.

    Returns:
        A ``Component`` subclass: call it with inputs and parameters to make an
        instance; ``.fn`` is the original function.

    Raises:
        DefinitionError: The signature cannot be a component spec (raised at import).

    Example:
        >>> from pipeline import Output, Examples, component
        >>> @component(name="make_rows")
        ... def make_rows(count: int = 3, rows: Output[Examples] = ...):
        ...     pass
        Traceback (most recent call last):
        ...
        pipeline.errors.DefinitionError: make_rows: output 'rows' cannot have a default value.
    """

    def wrap(func: Callable) -> type:
        component_name = name or func.__name__
        spec = _spec_from_function(component_name, func)
        _unset_resolver_defaults(func)

        def execute(self: Component, **kwargs: Any) -> Any:
            return func(**kwargs)

        cls = type(
            component_name,
            (Component,),
            {
                "__doc__": func.__doc__,
                "__module__": func.__module__,
                "__qualname__": func.__qualname__,
                "name": component_name,
                "spec": spec,
                "version": version,
                "fn": staticmethod(func),
                "execute": execute,
            },
        )
        return cls

    if fn is not None:
        return wrap(fn)
    return wrap
