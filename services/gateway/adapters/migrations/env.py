"""Alembic environment: the connection comes from `database.migrate()` (settings decide the URL)."""

from alembic import context

from services.gateway.adapters.orm import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
