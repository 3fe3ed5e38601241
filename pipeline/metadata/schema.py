"""The metadata store's tables, in portable SQL (SQLite and PostgreSQL).

The data model follows ML Metadata's: artifact types, artifacts, executions,
contexts (a ``pipeline`` and its ``run``s), events (an execution read an artifact as
an INPUT or wrote it as an OUTPUT, under an input or output name, the ``path``),
attributions (artifact ↔ context) and associations (execution ↔ context).

JSON values are stored as text (``json.dumps``) and times as float seconds since
the epoch, so every table works unchanged on any SQL database.

Example:
    >>> sorted(metadata.tables)[:3]
    ['artifact_types', 'artifacts', 'associations']
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1
"""The schema version this code writes; raise it, with a step in
``migrations.MIGRATIONS`` from the old version, when the tables change."""

PIPELINE = "pipeline"
RUN = "run"
INPUT = "INPUT"
OUTPUT = "OUTPUT"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_NAME = sa.String(255)
_STATE = sa.String(16)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("written_at", sa.Float, nullable=False),
)

artifact_types = sa.Table(
    "artifact_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", _NAME, nullable=False, unique=True),
    # {"property name": "int" | "float" | "str" | "bool" | "list" | "dict"}
    sa.Column("property_schema", sa.Text, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("type_id", sa.ForeignKey("artifact_types.id"), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("state", _STATE, nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("create_time", sa.Float, nullable=False),
    sa.Column("update_time", sa.Float, nullable=False),
    sa.Index(None, "type_id", "state"),
)

contexts = sa.Table(
    "contexts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("name", _NAME, nullable=False),
    sa.Column("parent_id", sa.ForeignKey("contexts.id"), nullable=True, index=True),
    sa.Column("state", _STATE, nullable=True),
    sa.Column("properties", sa.Text, nullable=False),
    # The process that started a run, so that a killed run can be told from a live one.
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", _NAME, nullable=True),
    sa.Column("start_time", sa.Float, nullable=False),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.UniqueConstraint("type", "name"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("component_id", _NAME, nullable=False),
    sa.Column("component_type", _NAME, nullable=False),
    sa.Column("state", _STATE, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("fingerprint", _NAME, nullable=True, index=True),
    sa.Column("code_version", _NAME, nullable=True),
    sa.Column("start_time", sa.Float, nullable=False),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("cached_from", sa.ForeignKey("executions.id"), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", _NAME, nullable=True),
    sa.Index(None, "state", "host"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("execution_id", sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("artifact_id", sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("path", _NAME, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.UniqueConstraint("execution_id", "type", "path"),
    sa.Index(None, "artifact_id", "type"),
)

attributions = sa.Table(
    "attributions",
    metadata,
    sa.Column("context_id", sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Column("artifact_id", sa.ForeignKey("artifacts.id"), primary_key=True),
    sa.Index(None, "artifact_id"),
)

associations = sa.Table(
    "associations",
    metadata,
    sa.Column("context_id", sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Column("execution_id", sa.ForeignKey("executions.id"), primary_key=True),
    sa.Index(None, "execution_id"),
)
