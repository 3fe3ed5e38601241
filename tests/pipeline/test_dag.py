"""Tests for pipeline/dag.py: validation before anything runs, and ordering."""

import re

import pytest

from pipeline import (
    Artifact,
    DefinitionError,
    Examples,
    Input,
    Output,
    Pipeline,
    component,
)


@component
def produce(out: Output[Artifact]):
    pass


@component
def consume(source: Input[Artifact], out: Output[Artifact]):
    pass


@component
def join(left: Input[Artifact], right: Input[Artifact], out: Output[Artifact]):
    pass


def test_order_puts_producers_first_whatever_the_list_order(tmp_path):
    a = produce()
    b = consume(source=a.outputs["out"])
    c = consume(source=b.outputs["out"]).with_id("consume_again")
    p = Pipeline("chain", [c, b, a], root=str(tmp_path))
    assert [n.id for n in p.order()] == ["produce", "consume", "consume_again"]
    assert p.graph() == {
        "consume_again": ["consume"],
        "consume": ["produce"],
        "produce": [],
    }


def test_diamond_orders_join_last(tmp_path):
    a = produce()
    left = consume(source=a.outputs["out"]).with_id("left")
    right = consume(source=a.outputs["out"]).with_id("right")
    j = join(left=left.outputs["out"], right=right.outputs["out"])
    order = [
        n.id for n in Pipeline("d", [j, right, left, a], root=str(tmp_path)).order()
    ]
    assert order[0] == "produce" and order[-1] == "join"


def test_duplicate_ids_are_rejected_with_a_fix():
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "two components have the id 'produce'. Give one a unique id with .with_id('...')"
        ),
    ):
        Pipeline("dup", [produce(), produce()])


def test_same_instance_twice_is_rejected():
    a = produce()
    with pytest.raises(DefinitionError, match="is listed twice"):
        Pipeline("twice", [a, a])


def test_producer_missing_from_the_pipeline_is_named():
    a = produce()
    b = consume(source=a.outputs["out"])
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "component 'consume' reads input 'source' from produce.outputs['out'], but "
            "'produce' is not in the pipeline"
        ),
    ):
        Pipeline("missing", [b])


def test_cycle_through_after_is_reported_with_its_path():
    a = produce().with_id("a")
    b = produce().with_id("b")
    a.after(b)
    b.after(a)
    with pytest.raises(
        DefinitionError, match=r"has a cycle: (a -> b -> a|b -> a -> b)"
    ):
        Pipeline("cyclic", [a, b])


def test_after_orders_without_data(tmp_path):
    a = produce().with_id("a")
    b = produce().with_id("b").after(a)
    assert [n.id for n in Pipeline("after", [b, a], root=str(tmp_path)).order()] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("name", ["", "has space", "../escape", "a/b"])
def test_invalid_pipeline_names_are_rejected(name):
    with pytest.raises(DefinitionError, match="is not valid"):
        Pipeline(name, [])


def test_component_class_instead_of_instance_gets_a_hint():
    with pytest.raises(
        DefinitionError, match=re.escape("Call it to make an instance: produce(...)")
    ):
        Pipeline("cls", [produce])


def test_default_root_is_under_mlpipe_home(mlpipe_home):
    assert Pipeline("rooted", []).root == str(mlpipe_home / "pipelines" / "rooted")


def test_component_lookup_by_id_suggests(tmp_path):
    p = Pipeline("lookup", [produce()], root=str(tmp_path))
    assert p.component("produce").id == "produce"
    with pytest.raises(DefinitionError, match="Did you mean 'produce'"):
        p.component("prodce")


def test_examples_input_accepts_subclass_outputs(tmp_path):
    class FilteredExamples(Examples):
        TYPE_NAME = "FilteredExamples"

    @component
    def filtered(out: Output[FilteredExamples]):
        pass

    @component
    def reads(examples: Input[Examples]):
        pass

    f = filtered()
    Pipeline("sub", [f, reads(examples=f.outputs["out"])], root=str(tmp_path))
