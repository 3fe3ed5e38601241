"""Test set-up shared by every test: mlpipe's defaults point into a temporary folder."""

import os
import pathlib

import pytest

# The PostgreSQL fixtures, here so that one server serves every test module.
from tests.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def mlpipe_home(tmp_path_factory, monkeypatch):
    """Keeps every test's default store and pipeline roots out of the user's home."""
    home = tmp_path_factory.mktemp("mlpipe_home")
    monkeypatch.setenv("MLPIPE_HOME", str(home))
    monkeypatch.delenv("MLPIPE_STORE", raising=False)
    return home


@pytest.fixture
def store_url(tmp_path):
    """A fresh SQLite store file for one test."""
    return f"sqlite:///{tmp_path / 'metadata.sqlite'}"


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
