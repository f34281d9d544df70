"""run progress: run.progress and run.progress_seq

Revision ID: 0009_run_progress
Revises: 0008_workflows
Create Date: 2026-12-02 00:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_run_progress'
down_revision = '0008_workflows'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('progress_seq', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('progress_seq')
        batch_op.drop_column('progress')
