"""hone's tables as they were before schema versioning (version 1, commit b567de4): a frozen copy.

The upgrade tests create a store with these, as an older hone did, and open it with today's code. Never
edit this file to follow today's tables: it is the past.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

splits_table = sa.Table(
    "hone_splits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_test", sa.Integer, nullable=False),
    sa.Column("test_ids_sha256", sa.String(64), nullable=False),
    sa.Column("test_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("project", "data_sha256", name="uq_split_project_data"),
)

runs_table = sa.Table(
    "hone_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("command", sa.String(50), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("studies", sa.Text, nullable=False, default="[]"),
)

evaluations_table = sa.Table(
    "hone_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("test_ids_sha256", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("study", sa.String(300), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

versions_table = sa.Table(
    "hone_model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("libraries", sa.Text, nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_bytes", sa.BigInteger, nullable=False),
    sa.Column("feature_schema", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("name", "version", name="uq_model_version"),
)

aliases_table = sa.Table(
    "hone_aliases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

alias_events_table = sa.Table(
    "hone_alias_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_version", sa.Integer),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_hone_alias_events_name_alias", "name", "alias", "id"),
)

windows_table = sa.Table(
    "hone_monitor_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labelled", sa.Integer, nullable=False),
    sa.Column("n_failed", sa.Integer, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("cursor_ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cursor_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("model", "seq", name="uq_monitor_window_seq"),
)

alerts_table = sa.Table(
    "hone_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("check_name", sa.String(100), nullable=False),
    sa.Column("feature", sa.String(200)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered", sa.Text, nullable=False),
    sa.Column("errors", sa.Text, nullable=False),
    sa.Column("suppressed", sa.Boolean, nullable=False),
    sa.Index("ix_hone_alerts_model_key_at", "model", "key", "at"),
)

sketches_table = sa.Table(
    "hone_monitor_row_sketches",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

retrain_runs_table = sa.Table(
    "hone_retrain_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("champion", sa.Integer, nullable=False),
    sa.Column("challenger", sa.Integer),
    sa.Column("promoted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("gate", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

learn_state_table = sa.Table(
    "hone_learn_state",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("position_ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("position_id", sa.String(200), nullable=False),
    sa.Column("rows_seen", sa.Integer, nullable=False),
    sa.Column("champion_moves", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

