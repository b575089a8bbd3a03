"""Alembic environment for the keystore; run through confida.store.migrate, not by hand."""

from alembic import context

from confida.store.keyschema import key_metadata as target_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
