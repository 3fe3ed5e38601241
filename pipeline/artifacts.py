"""Artifacts: small typed records of data that lives at a URI.

An artifact is a type name, a URI, typed properties and a state. Its files live at
the URI; the facts about it live in the metadata store. An artifact type adds only a
``TYPE_NAME``, its ``PROPERTIES`` and path helpers that document its layout.

Defining a subclass registers the type, so the store can load artifacts of it back:

Example:
    >>> class Embeddings(Artifact):
    ...     TYPE_NAME = "Embeddings"
    ...     PROPERTIES = {"dimension": int}
    >>> emb = Embeddings(uri="/tmp/emb", properties={"dimension": 64})
    >>> emb.dimension, emb.state.value
    (64, 'PENDING')
"""

from __future__ import annotations

import enum
import json
from typing import Any, ClassVar

from pipeline import registry
from pipeline.errors import DefinitionError, did_you_mean

_PROPERTY_TYPES = (int, float, str, bool, list, dict)


class ArtifactState(str, enum.Enum):
    """Where an artifact is in its life.

    PENDING: its execution is running; its files may be incomplete. LIVE: complete and
    usable. ABANDONED: its execution failed or was killed; never read it.
    """

    PENDING = "PENDING"
    LIVE = "LIVE"
    ABANDONED = "ABANDONED"


class Artifact:
    """The base of every artifact type.

    Args:
        uri: Where the artifact's files live (a local path or a URL such as gs://...).
        properties: Values for the type's declared ``PROPERTIES``.
        id: The artifact's id in the metadata store, once it has one.
        state: The artifact's ``ArtifactState``.

    Raises:
        DefinitionError: A property is not declared by the type or has the wrong type.

    Example:
        >>> Artifact(uri="/data/x").to_dict()["type"]
        'Artifact'
    """

    TYPE_NAME: ClassVar[str] = "Artifact"
    PROPERTIES: ClassVar[dict[str, type]] = {}
    #: When True, the files of an output left by a killed execution are kept, and
    #: the next execution with the same fingerprint starts from them (a Trainer's
    #: checkpoints) instead of from an empty folder.
    RESUMABLE: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE_NAME" not in cls.__dict__:
            raise DefinitionError(
                f"Artifact type {cls.__qualname__} must set TYPE_NAME, a unique CapWords name, "
                f'e.g. TYPE_NAME = "{cls.__name__}".'
            )
        for name, kind in cls.PROPERTIES.items():
            if kind not in _PROPERTY_TYPES:
                raise DefinitionError(
                    f"Artifact type {cls.TYPE_NAME}: property {name!r} has type {kind!r}; "
                    f"use one of int, float, str, bool, list, dict."
                )
        registry.register_artifact_type(cls)

    def __init__(
        self,
        uri: str = "",
        properties: dict[str, Any] | None = None,
        *,
        id: int | None = None,  # noqa: A002 - mirrors the store's column
        state: ArtifactState | str = ArtifactState.PENDING,
    ):
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "state", ArtifactState(state))
        object.__setattr__(self, "properties", {})
        for name, value in (properties or {}).items():
            self.set_property(name, value)

    def set_property(self, name: str, value: Any) -> None:
        """Sets a declared property after checking its type; ``None`` removes it.

        Raises:
            DefinitionError: ``name`` is not declared, or ``value`` has the wrong type.
        """
        kind = self.PROPERTIES.get(name)
        if kind is None:
            raise DefinitionError(
                f"{self.TYPE_NAME} has no property {name!r}; declared properties: "
                f"{sorted(self.PROPERTIES) or 'none'}.{did_you_mean(name, self.PROPERTIES)}"
            )
        if value is None:
            self.properties.pop(name, None)
            return
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DefinitionError(
                f"{self.TYPE_NAME} property {name!r} must be {kind.__name__}, "
                f"got {type(value).__name__} {value!r}."
            )
        if kind in (list, dict):
            try:
                value = json.loads(json.dumps(value))
            except TypeError as exc:
                raise DefinitionError(
                    f"{self.TYPE_NAME} property {name!r} must hold only JSON values: {exc}"
                ) from None
        self.properties[name] = value

    def __getattr__(self, name: str) -> Any:
        declared = type(self).PROPERTIES
        if name in declared:
            return self.properties.get(name)
        raise AttributeError(
            f"{type(self).__name__!r} has no attribute {name!r}.{did_you_mean(name, declared)}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).PROPERTIES:
            self.set_property(name, value)
        elif name in ("uri", "id", "state"):
            object.__setattr__(
                self, name, ArtifactState(value) if name == "state" else value
            )
        else:
            raise AttributeError(
                f"Cannot set {name!r} on {self.TYPE_NAME}: declare it in PROPERTIES "
                f"to make it a property.{did_you_mean(name, type(self).PROPERTIES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Returns the artifact as JSON-ready values (type, id, uri, state, properties)."""
        return {
            "type": self.TYPE_NAME,
            "id": self.id,
            "uri": self.uri,
            "state": self.state.value,
            "properties": dict(self.properties),
        }

    def __repr__(self) -> str:
        return f"{self.TYPE_NAME}(id={self.id}, uri={self.uri!r}, state={self.state.value})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Artifact) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable records


def _join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


class Examples(Artifact):
    """Split tf.Example records: ``<uri>/Split-<name>/`` holds each split's shards.

    Example:
        >>> Examples(uri="/r/gen/examples/3").split_uri("train")
        '/r/gen/examples/3/Split-train'
    """

    TYPE_NAME = "Examples"
    PROPERTIES = {"split_names": list, "row_counts": dict, "span": int, "version": int}

    def split_uri(self, split: str) -> str:
        """Returns the folder that holds the shards of ``split``."""
        return _join(self.uri, f"Split-{split}")


class Schema(Artifact):
    """A tensorflow_metadata Schema in ``<uri>/schema.pbtxt``."""

    TYPE_NAME = "Schema"

    @property
    def schema_path(self) -> str:
        """The text-format Schema proto file."""
        return _join(self.uri, "schema.pbtxt")


class ExampleStatistics(Artifact):
    """Per-split statistics: ``<uri>/Split-<name>/`` holds each split's statistics."""

    TYPE_NAME = "ExampleStatistics"
    PROPERTIES = {"split_names": list}

    def split_uri(self, split: str) -> str:
        """Returns the folder that holds the statistics of ``split``."""
        return _join(self.uri, f"Split-{split}")


class ExampleAnomalies(Artifact):
    """What a split's statistics break of a schema: ``<uri>/Split-<name>/`` per split."""

    TYPE_NAME = "ExampleAnomalies"
    PROPERTIES = {"split_names": list, "anomaly_count": int}

    def split_uri(self, split: str) -> str:
        """Returns the folder that holds the anomalies of ``split``."""
        return _join(self.uri, f"Split-{split}")


class TransformGraph(Artifact):
    """A tensorflow-transform output directory (what ``tft.TFTransformOutput`` reads)."""

    TYPE_NAME = "TransformGraph"


class Model(Artifact):
    """A trained model.

    ``<uri>/Format-Serving/`` is the serving SavedModel (serialized tf.Example in,
    the transform graph applied inside); ``<uri>/Format-Eval/`` is the
    evaluation-ready SavedModel whose ``evaluate`` signature takes serialized raw
    tf.Examples and returns the predictions together with the (transformed) label;
    ``<uri>/samples/examples.tfrecord`` holds a few raw serialized examples for
    smoke tests.

    Example:
        >>> Model(uri="/r/Trainer/model/7").eval_model_dir
        '/r/Trainer/model/7/Format-Eval'
    """

    TYPE_NAME = "Model"
    PROPERTIES = {"label_key": str, "model_type": str, "signatures": list}

    @property
    def serving_model_dir(self) -> str:
        """The SavedModel that takes serialized tf.Example."""
        return _join(self.uri, "Format-Serving")

    @property
    def eval_model_dir(self) -> str:
        """The evaluation-ready SavedModel (signature ``evaluate``)."""
        return _join(self.uri, "Format-Eval")

    @property
    def sample_examples_path(self) -> str:
        """An uncompressed TFRecord of a few raw serialized tf.Examples."""
        return _join(self.uri, "samples", "examples.tfrecord")


class ModelRun(Artifact):
    """A training run's model_dir: checkpoints and TensorBoard event files.

    Resumable: a Trainer killed mid-run leaves its checkpoints here, and the next
    run of the same Trainer (same code, parameters and inputs) continues from them.
    """

    TYPE_NAME = "ModelRun"
    RESUMABLE = True


class ModelEvaluation(Artifact):
    """Evaluation metrics, overall and per slice: ``<uri>/metrics.json`` and an HTML
    report in ``<uri>/report.html``."""

    TYPE_NAME = "ModelEvaluation"

    @property
    def metrics_path(self) -> str:
        """The metrics as JSON."""
        return _join(self.uri, "metrics.json")

    @property
    def report_path(self) -> str:
        """A readable HTML report with plots."""
        return _join(self.uri, "report.html")


class ModelBlessing(Artifact):
    """Whether a model passed its evaluation thresholds, and why."""

    TYPE_NAME = "ModelBlessing"
    PROPERTIES = {"blessed": bool, "reasons": list}


class PushedModel(Artifact):
    """A model pushed to a serving destination (``<destination>/<version>/``), or
    the reason it was not (``pushed`` False, ``reason``)."""

    TYPE_NAME = "PushedModel"
    PROPERTIES = {
        "pushed": bool,
        "destination": str,
        "version": int,
        "pushed_uri": str,
        "reason": str,
    }


STANDARD_TYPES = (
    Examples,
    Schema,
    ExampleStatistics,
    ExampleAnomalies,
    TransformGraph,
    Model,
    ModelRun,
    ModelEvaluation,
    ModelBlessing,
    PushedModel,
)
