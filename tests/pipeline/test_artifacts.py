"""Tests for pipeline/artifacts.py: typed properties, states, layouts, custom types."""

import re

import pytest

from pipeline import (
    Artifact,
    ArtifactState,
    DefinitionError,
    Examples,
    ModelBlessing,
    registry,
)


def test_properties_are_typed():
    examples = Examples(uri="/r/e/1", properties={"split_names": ["train", "eval"]})
    examples.row_counts = {"train": 2, "eval": 1}
    assert examples.split_names == ["train", "eval"]
    assert examples.span is None
    with pytest.raises(
        DefinitionError, match=re.escape("property 'span' must be int, got str '3'")
    ):
        examples.span = "3"


def test_unknown_property_suggests_the_declared_one():
    blessing = ModelBlessing(uri="/r/b/1")
    with pytest.raises(DefinitionError, match="Did you mean 'blessed'"):
        blessing.set_property("blesed", True)
    with pytest.raises(AttributeError, match="declare it in PROPERTIES"):
        blessing.anything = 1


def test_properties_must_be_json():
    with pytest.raises(DefinitionError, match="only JSON values"):
        Examples(uri="/x", properties={"row_counts": {"train": object()}})


def test_state_and_layout_helpers():
    examples = Examples(uri="gs://bucket/root/gen/examples/4/")
    assert examples.state is ArtifactState.PENDING
    assert examples.split_uri("eval") == "gs://bucket/root/gen/examples/4/Split-eval"
    examples.state = "LIVE"
    assert examples.state is ArtifactState.LIVE


def test_custom_types_register_and_must_be_named():
    class Vocabulary(Artifact):
        TYPE_NAME = "TestVocabulary"
        PROPERTIES = {"size": int}

    assert registry.artifact_type("TestVocabulary") is Vocabulary
    with pytest.raises(DefinitionError, match="must set TYPE_NAME"):

        class Unnamed(Artifact):
            pass

    with pytest.raises(
        DefinitionError, match="use one of int, float, str, bool, list, dict"
    ):

        class BadProperty(Artifact):
            TYPE_NAME = "BadProperty"
            PROPERTIES = {"when": object}
