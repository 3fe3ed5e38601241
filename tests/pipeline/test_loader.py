"""Tests for pipeline/loader.py: finding the pipeline in a file, and every way it can fail."""

import re
import textwrap

import pytest

from pipeline import DefinitionError, load_pipeline

HEADER = "from pipeline import Pipeline, Artifact, Output, component\n"


def _file(tmp_path, body, name="p.py"):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return str(path)


def test_create_pipeline_wins_and_main_block_does_not_run(tmp_path):
    path = _file(
        tmp_path,
        """
        def create_pipeline():
            return Pipeline("made", [])
        if __name__ == "__main__":
            raise SystemExit("the main block ran")
        """,
    )
    assert load_pipeline(path).name == "made"


def test_a_root_reaches_create_pipeline_and_what_it_derives(tmp_path):
    path = _file(
        tmp_path,
        """
        def create_pipeline(root="/default/root"):
            return Pipeline("made", [], root=root, store=f"sqlite:///{root}/m.sqlite")
        """,
    )
    made = load_pipeline(path, root=str(tmp_path / "elsewhere"))
    assert made.root == str(tmp_path / "elsewhere")
    assert made.store == f"sqlite:///{tmp_path / 'elsewhere'}/m.sqlite"
    assert load_pipeline(path).root == "/default/root"


def test_a_root_replaces_a_module_level_pipelines_own(tmp_path):
    path = _file(tmp_path, 'a = Pipeline("a", [], root="/r/a")\n')
    assert load_pipeline(path, root="/r/b").root == "/r/b"
    assert load_pipeline(path, "a", root="/r/c").root == "/r/c"


def test_module_level_pipeline_and_choice_by_name(tmp_path):
    path = _file(tmp_path, 'a = Pipeline("a", [])\nb = Pipeline("b", [])\n')
    assert load_pipeline(path, "b").name == "b"
    with pytest.raises(
        DefinitionError, match=re.escape("defines several pipelines (a, b)")
    ):
        load_pipeline(path)
    with pytest.raises(DefinitionError, match="no pipeline named 'c'"):
        load_pipeline(path, "c")


def test_neighbour_modules_import(tmp_path):
    (tmp_path / "helpers_for_loader_test.py").write_text("NAME = 'from_neighbour'\n")
    path = _file(
        tmp_path,
        """
        import helpers_for_loader_test
        pipeline = Pipeline(helpers_for_loader_test.NAME, [])
        """,
    )
    assert load_pipeline(path).name == "from_neighbour"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x = 1\n", "defines no pipeline. Define create_pipeline()"),
        (
            "def create_pipeline():\n    return 3\n",
            "create_pipeline() returned int, not a Pipeline",
        ),
        ("def create_pipeline(root):\n    pass\n", "requires ['root']"),
        ("import no_such_module_here\n", "Importing pipeline file"),
        (
            "def create_pipeline():\n    raise KeyError('k')\n",
            "create_pipeline() raised KeyError",
        ),
    ],
)
def test_bad_pipeline_files(tmp_path, body, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_pipeline(_file(tmp_path, body))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DefinitionError, match="does not exist"):
        load_pipeline(str(tmp_path / "nope.py"))
    with pytest.raises(DefinitionError, match="It is a folder"):
        load_pipeline(str(tmp_path))


def test_definition_errors_in_the_file_pass_through(tmp_path):
    path = _file(
        tmp_path,
        """
        @component
        def make(out: Output[Artifact]):
            pass
        pipeline = Pipeline("dup", [make(), make()])
        """,
    )
    with pytest.raises(DefinitionError, match="two components have the id 'make'"):
        load_pipeline(path)
