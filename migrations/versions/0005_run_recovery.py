"""run recovery: run.attempt, run.heartbeat_at and the sweep's index

Revision ID: 0005_run_recovery
Revises: 0004_run_final_json
Create Date: 2026-11-26 21:30:00.000000

0003 was never used: this revision was planned under that number while
0004 landed first, so it follows 0004 (one line of history, one head).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_run_recovery'
down_revision = '0004_run_final_json'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_run_state_heartbeat', ['state', 'heartbeat_at'], unique=False)
    # Runs that a worker already started had their first attempt.
    op.execute("UPDATE run SET attempt = 1 WHERE started_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_state_heartbeat')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('attempt')
