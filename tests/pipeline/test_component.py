"""Tests for pipeline/component.py: specs from signatures, binding and its errors."""

import re

import pytest

from pipeline import (
    Artifact,
    Component,
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    Model,
    ModuleFile,
    Output,
    Parameter,
    Schema,
    component,
    registry,
)


@component
def make_examples(examples: Output[Examples], rows: int = 3):
    """Writes nothing; a producer for wiring tests."""


@component
def train_model(
    examples: Input[Examples],
    model: Output[Model],
    schema: Input[Schema] = None,
    steps: Parameter[int] = 10,
    rate: Parameter[float] = 0.1,
    module_file: Parameter[ModuleFile] = "",
    tags: Parameter[list[str]] = [],  # noqa: B006 - a JSON default, never mutated
):
    """Returns its arguments, so tests can see what it was given."""
    return {"steps": steps, "schema": schema is not None}


class TestSpecFromFunction:
    def test_inputs_outputs_and_parameters_come_from_the_signature(self):
        spec = train_model.spec
        assert list(spec.inputs) == ["examples", "schema"]
        assert spec.inputs["schema"].optional and not spec.inputs["examples"].optional
        assert list(spec.outputs) == ["model"]
        assert spec.outputs["model"].type is Model
        assert list(spec.parameters) == ["steps", "rate", "module_file", "tags"]
        assert spec.parameters["module_file"].module_file
        assert not spec.parameters["steps"].required

    def test_plain_annotated_keyword_is_a_parameter(self):
        assert make_examples.spec.parameters["rows"].default == 3

    def test_raw_function_stays_callable_for_unit_tests(self):
        assert train_model.fn(examples=None, model=None, steps=5) == {
            "steps": 5,
            "schema": False,
        }

    def test_context_argument_is_recognised(self):
        @component
        def with_context(out: Output[Artifact], context: ExecutionContext):
            pass

        assert with_context.spec.context_arg == "context"
        assert "context" not in with_context.spec.parameters

    def test_component_registers_under_its_name(self):
        assert registry.component("train_model") is train_model

    @pytest.mark.parametrize(
        ("define", "message"),
        [
            (
                lambda: component(lambda x: None),
                "argument 'x' has no annotation",
            ),
            (
                lambda: component(_artifact_without_marker),
                "write Input[Examples] or Output[Examples]",
            ),
            (
                lambda: component(_input_of_int),
                "Input[...] takes an artifact type",
            ),
            (
                lambda: component(_bad_default),
                "default of parameter 'steps' must be int, got str '10'",
            ),
            (
                lambda: component(_var_kwargs),
                "must be a plain named argument",
            ),
        ],
    )
    def test_bad_signatures_fail_at_definition(self, define, message):
        with pytest.raises(DefinitionError, match=re.escape(message)):
            define()


def _artifact_without_marker(examples: Examples):
    pass


def _input_of_int(count: Input[int]):
    pass


def _bad_default(steps: Parameter[int] = "10"):
    pass


def _var_kwargs(**options: int):
    pass


class TestBinding:
    def test_parameters_get_defaults_and_given_values(self):
        gen = make_examples()
        node = train_model(examples=gen.outputs["examples"], steps=20)
        assert node.parameters["steps"] == 20
        assert node.parameters["rate"] == 0.1
        assert node.inputs["examples"].producer is gen

    def test_int_is_accepted_for_float(self):
        node = train_model(examples=make_examples().outputs["examples"], rate=1)
        assert node.parameters["rate"] == 1

    def test_unknown_output_suggests_the_right_one(self):
        with pytest.raises(
            DefinitionError,
            match=re.escape("has no output 'exampels'. Did you mean 'examples'?"),
        ):
            make_examples().outputs["exampels"]

    def test_wrong_artifact_type_names_both_ends(self):
        trainer = train_model(examples=make_examples().outputs["examples"])
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "train_model: input 'examples' expects Examples, but "
                "train_model.outputs['model'] is Model."
            ),
        ):
            train_model(examples=trainer.outputs["model"])

    def test_component_instead_of_channel_suggests_its_output(self):
        gen = make_examples()
        with pytest.raises(
            DefinitionError, match=re.escape("Pass make_examples.outputs['examples']")
        ):
            train_model(examples=gen)

    def test_string_instead_of_channel_is_rejected(self):
        with pytest.raises(DefinitionError, match="expects an output channel"):
            train_model(examples="data/examples")

    def test_unknown_argument_suggests_the_closest_name(self):
        with pytest.raises(
            DefinitionError,
            match=re.escape("unknown argument 'stepz'. Did you mean 'steps'?"),
        ):
            train_model(examples=make_examples().outputs["examples"], stepz=1)

    def test_missing_required_input_and_parameter_are_both_named(self):
        @component
        def needs_both(examples: Input[Examples], limit: Parameter[int]):
            pass

        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "missing required input(s) ['examples'] and parameter(s) ['limit']"
            ),
        ):
            needs_both()

    def test_parameter_of_wrong_type(self):
        with pytest.raises(
            DefinitionError,
            match=re.escape("parameter 'steps' must be int, got str '5'"),
        ):
            train_model(examples=make_examples().outputs["examples"], steps="5")

    def test_list_parameter_items_are_checked(self):
        with pytest.raises(DefinitionError, match="parameter 'tags' must be list"):
            train_model(examples=make_examples().outputs["examples"], tags=["a", 1])

    def test_bool_is_not_an_int(self):
        with pytest.raises(DefinitionError, match="must be int, got bool"):
            train_model(examples=make_examples().outputs["examples"], steps=True)

    def test_positional_arguments_are_rejected(self):
        with pytest.raises(
            DefinitionError, match="pass inputs and parameters by keyword"
        ):
            train_model(make_examples().outputs["examples"])

    def test_output_cannot_be_passed_in(self):
        with pytest.raises(DefinitionError, match="'model' is an output"):
            train_model(examples=make_examples().outputs["examples"], model=None)

    def test_non_json_parameter_is_rejected(self):
        @component
        def takes_any(value: Parameter[object] = None):
            pass

        with pytest.raises(DefinitionError, match="must be a JSON value"):
            takes_any(value=object())

    def test_with_id_rejects_path_characters(self):
        with pytest.raises(DefinitionError, match="id 'a/b' is not valid"):
            make_examples().with_id("a/b")


class TestClassForm:
    def test_annotations_become_the_spec(self):
        class Summarize(Component):
            examples: Input[Examples]
            limit: Parameter[int] = 5
            summary: Output[Artifact]

            def execute(self, examples, limit, summary):
                return {"limit": limit}

        node = Summarize(examples=make_examples().outputs["examples"])
        assert list(Summarize.spec.inputs) == ["examples"]
        assert node.parameters == {"limit": 5}
        assert node.execute(examples=None, limit=2, summary=None) == {"limit": 2}
        assert Summarize.name == "Summarize"

    def test_execute_must_accept_every_declared_name(self):
        with pytest.raises(DefinitionError, match=re.escape("it lacks ['limit']")):

            class Broken(Component):
                examples: Input[Examples]
                limit: Parameter[int] = 5

                def execute(self, examples):
                    pass

    def test_code_version_changes_with_the_source(self):
        @component
        def one(out: Output[Artifact]):
            return None

        first = one.code_version()

        @component  # noqa: F811 - the same name with other code
        def one(out: Output[Artifact]):  # noqa: F811
            return {"changed": True}

        assert one.code_version() != first

    def test_declared_version_wins(self):
        @component(version="2024.1")
        def pinned(out: Output[Artifact]):
            pass

        assert pinned.code_version() == "2024.1"


def test_source_version_follows_every_file_of_a_package(tmp_path, monkeypatch):
    from pipeline import source_version

    package = tmp_path / "versioned_helpers_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("FACTOR = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    @component(version=source_version("versioned_helpers_pkg"))
    def uses_helpers(out: Output[Artifact]):
        pass

    before = source_version("versioned_helpers_pkg")()
    assert uses_helpers.code_version() == before
    (package / "helpers.py").write_text("FACTOR = 2\n")
    assert source_version("versioned_helpers_pkg")() != before
    with pytest.raises(DefinitionError, match="no module named 'no_such_pkg_here'"):
        source_version("no_such_pkg_here")()
