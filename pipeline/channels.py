"""Handles on component outputs, and the typed ``outputs`` mapping that hands them out.

A ``Channel`` names one output of one component instance. Components are wired by
passing channels, never bare strings, so a typo or a type mismatch is caught when the
pipeline is written, not when it runs.

Example:
    >>> from pipeline import Output, Examples, component
    >>> @component
    ... def make_rows(rows: Output[Examples]):
    ...     pass
    >>> make_rows().outputs["rows"]
    make_rows.outputs['rows']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from pipeline.component import Component


@dataclass(frozen=True, eq=False)
class Channel:
    """One output of one component instance.

    Attributes:
        producer: The component instance that writes the output.
        output: The output's name in the producer's signature.
        artifact_type: The artifact type the output holds.
    """

    producer: Component
    output: str
    artifact_type: type

    def __repr__(self) -> str:
        return f"{self.producer.id}.outputs[{self.output!r}]"


class Outputs(Mapping[str, Channel]):
    """The outputs of a component instance, by name; unknown names fail with a hint."""

    def __init__(self, producer: Component):
        self._producer = producer
        self._channels = {
            name: Channel(producer, name, spec.type)
            for name, spec in producer.spec.outputs.items()
        }

    def __getitem__(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            pass
        known = ", ".join(repr(n) for n in self._channels) or "none"
        kind = type(self._producer).name
        who = repr(self._producer.id) + (
            f" ({kind})" if kind != self._producer.id else ""
        )
        raise DefinitionError(
            f"Component {who} has no output {name!r}."
            f"{did_you_mean(name, self._channels)} Its outputs are: {known}."
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def __repr__(self) -> str:
        return f"Outputs({', '.join(self._channels)})"
