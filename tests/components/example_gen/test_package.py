"""The example_gen package: cheap to import, four components with TFX's names."""

import subprocess
import sys

import pytest

from components import example_gen
from pipeline import registry, source_version


def test_importing_the_package_leaves_tensorflow_beam_and_pyarrow_out():
    code = (
        "import sys, components.example_gen; "
        "print([m for m in ('tensorflow', 'apache_beam', 'pyarrow', 'tensorflow_datasets')"
        " if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "name", ["CsvExampleGen", "ImportExampleGen", "ParquetExampleGen", "TfdsExampleGen"]
)
def test_each_component_is_registered_with_one_examples_output(name):
    component = getattr(example_gen, name)
    assert component.name == name and registry.component(name) is component
    assert list(component.spec.outputs) == ["examples"]
    assert component.spec.context_arg == "context"
    location = "data_dir" if name == "TfdsExampleGen" else "input_base"
    assert component.spec.parameters[location].input_path


def test_the_code_version_covers_the_helper_modules():
    expected = source_version("components.example_gen")()
    assert example_gen.CsvExampleGen.code_version() == expected
