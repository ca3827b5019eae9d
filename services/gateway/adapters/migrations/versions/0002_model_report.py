"""one model report column; whether a job kept a model is a field

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The fields training reports about a model move from one column each into one JSON column,
`models.report` (services.common.model_report.ModelReport): a new field is then a change in one
place. `jobs.has_model` says whether a job kept a model, instead of reading it from the stage text.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REPORTED = (
    "task",
    "target",
    "algorithm",
    "score_name",
    "score",
    "metrics",
    "light",
    "light_reason",
    "summary",
    "notes",
    "leaderboard",
    "feature_importance",
    "features",
    "versions",
)
_JSON = {"metrics", "notes", "leaderboard", "feature_importance", "features", "versions"}


def _old_columns() -> list[sa.Column[Any]]:
    return [sa.Column(name, _old_type(name)) for name in REPORTED]


def _old_type(name: str) -> sa.types.TypeEngine[Any]:
    if name in _JSON:
        return sa.JSON()
    if name == "score":
        return sa.Float()
    return sa.Text() if name in ("light_reason", "summary") else sa.String(255)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch_op:
        batch_op.add_column(sa.Column("report", sa.JSON(), nullable=True))
    # A plain ADD COLUMN: a batch copy of `jobs` would trip SQLite's foreign key from `models`.
    op.add_column(
        "jobs", sa.Column("has_model", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    connection = op.get_bind()
    models = sa.table(
        "models",
        sa.column("id"),
        sa.column("job_id"),
        sa.column("report", sa.JSON()),
        *_old_columns(),
    )
    for row in connection.execute(sa.select(models)).mappings().all():
        report = {name: row[name] for name in REPORTED}
        connection.execute(models.update().where(models.c.id == row["id"]).values(report=report))
    jobs = sa.table("jobs", sa.column("id"), sa.column("has_model", sa.Boolean()))
    kept = sa.select(models.c.id).where(models.c.job_id == jobs.c.id).exists()
    connection.execute(jobs.update().where(kept).values(has_model=True))
    with op.batch_alter_table("models") as batch_op:
        batch_op.alter_column("report", existing_type=sa.JSON(), nullable=False)
        for name in REPORTED:
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("models") as batch_op:
        for column in _old_columns():
            batch_op.add_column(column)
    connection = op.get_bind()
    models = sa.table("models", sa.column("id"), sa.column("report", sa.JSON()), *_old_columns())
    for row in connection.execute(sa.select(models.c.id, models.c.report)).mappings().all():
        values = {name: row["report"].get(name) for name in REPORTED}
        connection.execute(models.update().where(models.c.id == row["id"]).values(**values))
    with op.batch_alter_table("models") as batch_op:
        batch_op.drop_column("report")
    op.drop_column("jobs", "has_model")
