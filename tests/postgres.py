"""A throwaway PostgreSQL server for the tests that run the store on PostgreSQL.

The first test that asks for ``postgres_url`` starts one server for the session (one
per xdist worker, well under a second): ``initdb`` into a new folder under the
system's temporary folder, then ``pg_ctl start`` on a free port of 127.0.0.1, with
fsync off, as the ``postgres`` user when the tests run as root (``initdb`` refuses
root). Each test then gets a database of its own, dropped after it; the server is
stopped and its folder removed when the session ends.

Without PostgreSQL (``initdb`` and ``pg_ctl`` under ``/usr/lib/postgresql/*/bin`` or
on ``PATH``) or its driver (``psycopg``), these tests are skipped and say why, so
the suite runs on a machine without PostgreSQL. Under ``CI=true`` they fail instead:
CI installs PostgreSQL (``.ci/install_postgres.sh``), so a missing server there is a
broken set-up, not a reason to test less.

``MLPIPE_TEST_POSTGRES_URL`` points the tests at a running server instead of
starting one, e.g. ``postgresql+psycopg://postgres@localhost:5432/postgres``; its
user must be allowed to create databases.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

DRIVER = "psycopg"
SUPERUSER = "mlpipe"
SERVER_USER = "postgres"
"""Whom the server runs as when the tests run as root."""


class PostgresServer:
    """A PostgreSQL server that hands out scratch databases.

    Args:
        admin_url: A URL whose user may create and drop databases.
    """

    def __init__(self, admin_url: sa.URL):
        self.admin_url = admin_url
        self._engine = sa.create_engine(
            admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )

    def create_database(self) -> str:
        """Creates an empty database; returns its URL, password included."""
        name = f"mlpipe_test_{secrets.token_hex(6)}"
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drops a database made by ``create_database``, closing its connections."""
        name = sa.make_url(url).database
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Closes the connections used to create and drop databases."""
        self._engine.dispose()


class _LocalServer(PostgresServer):
    """A server of our own, in a temporary folder, started with ``pg_ctl``."""

    def __init__(self, bin_dir: Path):
        self._bin = bin_dir
        self._user = _server_user()
        self._folder = Path(tempfile.mkdtemp(prefix="mlpipe-pg-"))
        self._data = self._folder / "data"
        self._log = self._folder / "server.log"
        self._started = False
        atexit.register(self.stop)
        try:
            if self._user:
                shutil.chown(self._folder, self._user)
            self._pg(
                "initdb",
                f"--pgdata={self._data}",
                f"--username={SUPERUSER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
            port = self._start()
        except BaseException:
            self.stop()
            raise
        super().__init__(
            sa.URL.create(
                f"postgresql+{DRIVER}",
                username=SUPERUSER,
                host="127.0.0.1",
                port=port,
                database="postgres",
            )
        )

    def _start(self) -> int:
        # Another process may take the free port before the server binds it: retry.
        for attempt in range(3):
            port = _free_port()
            options = [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={self._folder}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=32MB",
                "-c max_connections=200",
            ]
            try:
                self._pg(
                    "pg_ctl",
                    "start",
                    f"--pgdata={self._data}",
                    f"--log={self._log}",
                    "--wait",
                    "--timeout=60",
                    "--silent",
                    f"--options={' '.join(options)}",
                )
            except subprocess.CalledProcessError:
                if attempt == 2 or "in use" not in self._log_tail():
                    raise
                continue
            self._started = True
            self._watch()
            return port
        raise AssertionError("unreachable")

    def _watch(self) -> None:
        # A process killed outright (SIGTERM, SIGKILL) runs no finalizer or atexit:
        # a watchdog stops the server and removes its folder once this process is gone.
        stop = shlex.join(
            self._command(
                "pg_ctl", "stop", f"--pgdata={self._data}", "--mode=immediate"
            )
        )
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{stop} >/dev/null 2>&1; rm -rf {shlex.quote(str(self._folder))}"
        )
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stops the server, if it runs, and removes its folder."""
        if self._started:
            self._started = False
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg("pg_ctl", "stop", f"--pgdata={self._data}", "--mode=immediate")
        shutil.rmtree(self._folder, ignore_errors=True)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self._bin / program), *args]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return command

    def _pg(self, program: str, *args: str) -> None:
        command = self._command(program, *args)
        done = subprocess.run(
            command, cwd=self._folder, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode,
                command,
                output=done.stdout,
                stderr=f"{done.stderr}\n--- {self._log} ---\n{self._log_tail()}",
            )

    def _log_tail(self) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def find_bin_dir() -> Path | None:
    """Returns the folder of ``initdb`` and ``pg_ctl``, the newest version first."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: (
            int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if all(os.access(Path(folder, p), os.X_OK) for p in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        _unavailable(
            f"the tests run as root, which initdb refuses, and there is no "
            f"{SERVER_USER!r} user to run PostgreSQL as (installing PostgreSQL's "
            f"Debian package creates it)"
        )
    return SERVER_USER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_ci() -> bool:
    """Whether the tests run in CI, where PostgreSQL must be there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(
            f"PostgreSQL tests cannot run: {reason}. CI=true, so this fails instead of "
            f"skipping: .ci/run installs PostgreSQL with .ci/install_postgres.sh and the "
            f"driver with pip install -e '.[dev]'.",
            pytrace=False,
        )
    pytest.skip(
        f"PostgreSQL tests skipped: {reason}. Install PostgreSQL "
        f"(sudo .ci/install_postgres.sh) and pip install -e '.[dev]' to run them, or "
        f"set MLPIPE_TEST_POSTGRES_URL to a server of yours."
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server: started on first use, stopped at the end."""
    if importlib.util.find_spec(DRIVER) is None:
        _unavailable(f"its driver is not installed (no module {DRIVER!r})")
    configured = os.environ.get("MLPIPE_TEST_POSTGRES_URL")
    if configured:
        server = PostgresServer(sa.make_url(configured))
        yield server
        server.close()
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable(
            "it is not installed (no initdb and pg_ctl under "
            "/usr/lib/postgresql/*/bin or on PATH)"
        )
    local = _LocalServer(bin_dir)
    try:
        yield local
    finally:
        local.close()
        local.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database for one test, dropped after it."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
