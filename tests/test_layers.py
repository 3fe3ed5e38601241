"""The import rules of STYLE.md, checked by import-linter over the real package graph."""

import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint_imports = shutil.which(
        "lint-imports", path=str(pathlib.Path(sys.executable).parent)
    )
    assert lint_imports, "import-linter is part of the dev extra; install .[dev]"
    result = subprocess.run(
        [lint_imports], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
