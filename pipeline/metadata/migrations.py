"""Schema upgrades: how a store written by an older mlpipe reaches ``SCHEMA_VERSION``.

``MIGRATIONS[n]`` upgrades a store's tables from schema version ``n`` to ``n + 1``.
When ``MetadataStore`` opens a store whose recorded version is older than
``schema.SCHEMA_VERSION``, it runs ``upgrade``: every missing step in order, each
followed by a row in ``schema_version``, all in one transaction, so a step that fails
leaves the store exactly as it was (DDL is transactional on SQLite and PostgreSQL).
Two processes that open an old store at once upgrade it once: the transaction holds
the database's write lock (SQLite) or an advisory lock (PostgreSQL) from its start.

To change the tables: change ``schema.py`` (what a new store gets), raise
``SCHEMA_VERSION``, and add the step here that brings an existing store to the same
shape, written with SQLAlchemy Core or SQL that both SQLite and PostgreSQL accept;
test it by opening a store written at the old version. A plain registry rather than
Alembic: the steps run inside the store's own open, on any URL, with no migration
environment to ship, and the store has one linear history.

Example:
    >>> import sqlalchemy as sa
    >>> from pipeline.metadata import schema
    >>> def add_note(conn):
    ...     conn.execute(sa.text("ALTER TABLE contexts ADD COLUMN note TEXT"))
    >>> with sa.create_engine("sqlite://").begin() as conn:
    ...     schema.metadata.create_all(conn)
    ...     _ = conn.execute(
    ...         sa.insert(schema.schema_version).values(version=1, written_at=0))
    ...     reached = upgrade(conn, 1, target=2, steps={1: add_note})
    ...     columns = [c["name"] for c in sa.inspect(conn).get_columns("contexts")]
    ...     now = stored_version(conn)
    >>> reached, columns[-1], now
    ([2], 'note', 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline.errors import MetadataStoreError
from pipeline.metadata import schema as s

Migration = Callable[[Connection], None]
"""One upgrade step: changes the tables, in the caller's transaction, and commits nothing."""

MIGRATIONS: dict[int, Migration] = {}
"""Upgrade steps by the version they start from; version 1 is the first schema."""


def stored_version(conn: Connection) -> int | None:
    """Returns the schema version a store's tables were written with.

    Returns:
        The highest version in ``schema_version``, or None when the database has no
        mlpipe tables yet.
    """
    if not sa.inspect(conn).has_table(s.schema_version.name):
        return None
    return conn.scalar(sa.select(sa.func.max(s.schema_version.c.version)))


def upgrade(
    conn: Connection,
    found: int,
    *,
    target: int | None = None,
    steps: Mapping[int, Migration] | None = None,
) -> list[int]:
    """Runs the upgrade steps from version ``found`` to ``target``, in order.

    Each step is recorded in ``schema_version`` as soon as it has run. Commits
    nothing: the caller's transaction makes the whole upgrade one change.

    Args:
        conn: A connection inside a write transaction.
        found: The version the tables have now.
        target: The version to reach; ``schema.SCHEMA_VERSION`` if None.
        steps: The steps by start version; ``MIGRATIONS`` if None.

    Returns:
        The versions reached, in order (empty when ``found`` is ``target``).

    Raises:
        MetadataStoreError: A step between ``found`` and ``target`` is missing.
    """
    target = s.SCHEMA_VERSION if target is None else target
    steps = MIGRATIONS if steps is None else steps
    missing = [version for version in range(found, target) if version not in steps]
    if missing:
        raise MetadataStoreError(
            f"No upgrade from schema version {missing[0]} to {missing[0] + 1}: this "
            f"mlpipe knows steps from versions {sorted(steps) or 'none'}, and needs "
            f"one for each of {list(range(found, target))} to reach {target}."
        )
    reached = []
    for version in range(found, target):
        steps[version](conn)
        conn.execute(
            sa.insert(s.schema_version).values(
                version=version + 1, written_at=time.time()
            )
        )
        reached.append(version + 1)
    return reached
