"""pipeline.network: whether the pipeline's simulations may reach the network

Revision ID: 0006_pipeline_network
Revises: 0005_run_recovery
Create Date: 2026-12-02 00:10:00.000000

Off for every existing pipeline: simulations run without a network unless
their pipeline asks for one (docs/adr/0015-sandbox.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_pipeline_network'
down_revision = '0005_run_recovery'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pipeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('pipeline', schema=None) as batch_op:
        batch_op.drop_column('network')
