"""Ten no-op components in a chain: what orchestration alone costs (bench/orchestration.py)."""

import os

from pipeline import Artifact, Input, Output, Pipeline, component


@component
def start(out: Output[Artifact]):
    """Writes nothing."""


@component
def step(previous: Input[Artifact], out: Output[Artifact], index: int = 0):
    """Reads nothing, writes nothing."""


def create_pipeline() -> Pipeline:
    """The chain start → step1 → … → step9 under $BENCH_ROOT."""
    nodes = [start()]
    for index in range(1, 10):
        nodes.append(
            step(previous=nodes[-1].outputs["out"], index=index).with_id(f"step{index}")
        )
    return Pipeline(
        "noop10", nodes, root=os.environ.get("BENCH_ROOT", "runs/bench-noop")
    )
