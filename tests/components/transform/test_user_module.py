"""Loading the user's module file: every way it can be missing or broken, named."""

import re
import sys

import pytest

from components.transform.user_module import load_preprocessing_fn
from pipeline import DefinitionError

OWNER = "Transform 'transform'"


def write(tmp_path, text, name="prep.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_function_is_returned_wrapped_and_callable(tmp_path):
    path = write(
        tmp_path, "def preprocessing_fn(inputs):\n    return {'y': inputs['x']}\n"
    )
    traced = load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    assert traced({"x": 1}) == {"y": 1}
    assert traced.inputs.read == ["x"]
    assert traced.path == path


def test_a_missing_file_is_named_with_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"{OWNER}: module_file 'nothere.py' is not a file (looked for "
            f"{tmp_path / 'nothere.py'}). Pass the path of a Python file that defines "
            f"preprocessing_fn(inputs); relative paths are taken from the folder the "
            f"pipeline runs in."
        ),
    ):
        load_preprocessing_fn(OWNER, "nothere.py", "preprocessing_fn")


def test_a_folder_is_not_a_module_file(tmp_path):
    with pytest.raises(DefinitionError, match="is not a file"):
        load_preprocessing_fn(OWNER, str(tmp_path), "preprocessing_fn")


def test_an_import_error_shows_the_error_and_the_line(tmp_path):
    path = write(
        tmp_path,
        "import os\nimport tensorflow_transfrom as tft\n\n"
        "def preprocessing_fn(inputs):\n    return inputs\n",
    )
    with pytest.raises(DefinitionError) as caught:
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    assert str(caught.value) == (
        f"{OWNER}: module_file {path} failed to import: ModuleNotFoundError: No module "
        f"named 'tensorflow_transfrom' (at line 2: `import tensorflow_transfrom as "
        f"tft`). Fix the module (its traceback follows this message's cause)."
    )
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_an_error_raised_while_importing_keeps_the_users_traceback(tmp_path):
    path = write(tmp_path, "SCALE = 1 / 0\n")
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "ZeroDivisionError: division by zero (at line 1: `SCALE = 1 / 0`)"
        ),
    ) as caught:
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    frames = []
    tb = caught.value.__cause__.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert frames[-1] == path


def test_a_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "def preprocessing_fn(inputs:\n    return inputs\n")
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"{OWNER}: module_file {path} cannot be imported: SyntaxError: '(' was "
            f"never closed (line 1: `def preprocessing_fn(inputs:`)."
        ),
    ):
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")


def test_a_missing_function_suggests_the_closest_one(tmp_path):
    path = write(
        tmp_path,
        "from os import path\n\ndef preprocesing_fn(inputs):\n    return inputs\n\n"
        "def _fill(x):\n    return x\n",
    )
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"{OWNER}: module_file {path} has no function 'preprocessing_fn'. Did you "
            f"mean 'preprocesing_fn'? It defines: _fill, preprocesing_fn. Define "
            f"preprocessing_fn(inputs) there, or pass "
            f"preprocessing_fn='preprocesing_fn'."
        ),
    ):
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")


def test_a_module_without_functions_says_so(tmp_path):
    path = write(tmp_path, "X = 1\n")
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "has no function 'preprocessing_fn'. It defines: no functions. Define "
            "preprocessing_fn(inputs) there."
        ),
    ):
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")


def test_a_name_that_is_not_a_function_is_refused(tmp_path):
    path = write(tmp_path, "preprocessing_fn = {'a': 1}\n")
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"{OWNER}: module_file {path}: 'preprocessing_fn' is a dict, not a function."
        ),
    ):
        load_preprocessing_fn(OWNER, path, "preprocessing_fn")


def test_the_function_name_can_be_chosen(tmp_path):
    path = write(tmp_path, "def taxi_features(inputs):\n    return {'a': 1}\n")
    assert load_preprocessing_fn(OWNER, path, "taxi_features").fn.__name__ == (
        "taxi_features"
    )


def test_neighbour_modules_import_and_nothing_is_left_in_sys_modules(tmp_path):
    write(tmp_path, "KEYS = ['fare']\n", name="taxi_constants.py")
    path = write(
        tmp_path,
        "import dataclasses\nimport taxi_constants\n\n@dataclasses.dataclass\n"
        "class Options:\n    scale: float = 1.0\n\n"
        "def preprocessing_fn(inputs):\n"
        "    return {k: inputs[k] for k in taxi_constants.KEYS}\n",
    )
    before = set(sys.modules)
    traced = load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    assert traced({"fare": 2.0}) == {"fare": 2.0}
    assert not [m for m in set(sys.modules) - before if "user_module" in m]
    assert str(tmp_path) not in sys.path
    sys.modules.pop("taxi_constants", None)


def test_a_non_dict_result_is_refused(tmp_path):
    path = write(tmp_path, "def preprocessing_fn(inputs):\n    inputs['x']\n")
    traced = load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            f"{OWNER}: preprocessing_fn in {path} must return a non-empty dict of "
            f"feature name -> tensor; it returned NoneType None."
        ),
    ):
        traced({"x": 1})


def test_reading_an_unknown_feature_raises_a_key_error(tmp_path):
    path = write(
        tmp_path, "def preprocessing_fn(inputs):\n    return {'t': inputs['tip']}\n"
    )
    traced = load_preprocessing_fn(OWNER, path, "preprocessing_fn")
    with pytest.raises(KeyError, match="tip"):
        traced({"tips": 1})


KERAS_CHECK = """
import os, sys, tensorflow as tf
from components.transform.legacy_keras import import_tensorflow_transform
from components.transform.user_module import load_preprocessing_fn
path = sys.argv[1]
load_preprocessing_fn("T", path, "preprocessing_fn", import_tensorflow_transform)
version = getattr(tf.keras, "version", None)
print(version() if version else "2", os.environ.get("TF_USE_LEGACY_KERAS"))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "legacy, expected", [(None, "3 None"), ("1", "2 1")], ids=["default", "user-set"]
)
def test_a_module_importing_tensorflow_transform_leaves_tf_keras_as_it_was(
    tmp_path, legacy, expected
):
    import os
    import subprocess

    path = write(
        tmp_path,
        "import tensorflow_transform as tft\n\n"
        "def preprocessing_fn(inputs):\n    return inputs\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = legacy
    result = subprocess.run(
        [sys.executable, "-c", KERAS_CHECK, path],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    major, variable = result.stdout.split()
    assert f"{major[0]} {variable}" == expected
