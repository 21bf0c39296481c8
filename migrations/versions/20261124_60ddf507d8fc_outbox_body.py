"""outbox: the messages themselves in outbox_body, apart from their rows

Revision ID: 60ddf507d8fc
Revises: d9e4a1b2c3f5
Create Date: 2026-11-24 04:39:28.827027+00:00

A sender updates an outbox row twice per message (claimed, then sent or retried). SQLite rewrites
a whole row on every update, so with the message in the row each update wrote a 36 KiB digest
again (0.2 ms instead of 0.02 ms, and the message twice more into the journal). The messages move,
as they are, to outbox_body (one row per outbox row, deleted with it); on PostgreSQL 14 and newer
that column is compressed with lz4, as outbox.raw was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '60ddf507d8fc'
down_revision: str | None = 'd9e4a1b2c3f5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outbox_body',
        sa.Column('outbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_body_outbox_id_outbox'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('outbox_id', name=op.f('pk_outbox_body')),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            DO $$
            BEGIN
                IF current_setting('server_version_num')::int >= 140000 THEN
                    EXECUTE 'ALTER TABLE outbox_body ALTER COLUMN raw SET COMPRESSION lz4';
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'outbox_body.raw keeps the default compression: %', SQLERRM;
            END
            $$
        """)
    op.execute("INSERT INTO outbox_body (outbox_id, raw) SELECT id, raw FROM outbox")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('raw')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM outbox_body WHERE outbox_body.outbox_id = outbox.id)")
    op.execute("UPDATE outbox SET raw = X'' WHERE raw IS NULL" if op.get_bind().dialect.name == "sqlite"
               else "UPDATE outbox SET raw = ''::bytea WHERE raw IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table('outbox_body')
