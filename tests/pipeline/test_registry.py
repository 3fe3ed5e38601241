"""Tests for pipeline/registry.py: the three doors, entry points included."""

import logging
import sys
import textwrap

import pytest

from pipeline import DefinitionError, registry


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """An installed-looking plugin distribution: a module plus a dist-info with entry points."""
    (tmp_path / "mlpipe_plugin_demo.py").write_text(
        textwrap.dedent(
            """
            from pipeline import Artifact, Output, component

            class Embeddings(Artifact):
                TYPE_NAME = "PluginEmbeddings"

            @component(name="plugin_embed")
            def embed(embeddings: Output[Embeddings]):
                pass
            """
        )
    )
    dist = tmp_path / "mlpipe_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlpipe-plugin-demo\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[mlpipe.components]\n"
        "plugin_embed = mlpipe_plugin_demo:embed\n"
        "PluginEmbeddings = mlpipe_plugin_demo:Embeddings\n"
        "broken = mlpipe_plugin_missing_module:thing\n"
        "not_a_component = mlpipe_plugin_demo:textwrap_is_not_here\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mlpipe_plugin_demo", None)
    registry.reload_entry_points()


def test_entry_point_components_and_types_are_found(plugin_dir):
    registry.reload_entry_points()
    found = registry.component("plugin_embed")
    assert found.name == "plugin_embed"
    assert (
        registry.components()["plugin_embed"] == "entry point mlpipe_plugin_demo:embed"
    )
    assert registry.artifact_type("PluginEmbeddings").TYPE_NAME == "PluginEmbeddings"


def test_broken_plugins_are_logged_and_skipped(plugin_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="pipeline.registry"):
        registry.reload_entry_points()
    assert "Skipping plugin 'broken'" in caplog.text
    assert "ModuleNotFoundError" in caplog.text
    assert "Skipping plugin 'not_a_component'" in caplog.text
    assert registry.component("plugin_embed").name == "plugin_embed"


def test_unknown_component_lists_what_is_known():
    from pipeline import Artifact, Output, component

    @component
    def known_component_for_lookup(out: Output[Artifact]):
        pass

    with pytest.raises(
        DefinitionError, match="Did you mean 'known_component_for_lookup'"
    ):
        registry.component("known_component_for_lookpu")


def test_builtin_artifact_types_resolve_by_name():
    from pipeline.artifacts import ModelBlessing

    assert registry.artifact_type("ModelBlessing") is ModelBlessing
    assert registry.artifact_type("NoSuchType") is None
