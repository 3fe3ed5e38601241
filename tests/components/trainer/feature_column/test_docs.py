"""docs/feature_columns.md: its Python examples run, in order, as written."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile

from tests.components.trainer.models import REPO

DOC = REPO / "docs" / "feature_columns.md"


def test_the_examples_run(monkeypatch, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # model and export dirs
    namespace: dict = {}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    printed = output.getvalue()
    assert "age_bucketized 3" in printed
    assert "[[2. 0. 0. 0.]" in printed
    assert "'wide/linear/bias_weights', 'wide/linear/numeric_weights'" in printed
    assert "(891, 1)" in printed
    assert os.path.isdir(namespace["export_dir"].decode())
    crossed = namespace["one_hot"].numpy().argmax(1).tolist()
    assert crossed == namespace["expected"].values.numpy().tolist()
