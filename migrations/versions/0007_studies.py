"""studies: run parameters, sweeps and input files

Revision ID: 0007_studies
Revises: 0006_pipeline_network
Create Date: 2026-12-02 00:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_studies'
down_revision = '0006_pipeline_network'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sweep',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=32), nullable=False),
        sa.Column('pipeline_id', sa.Integer(), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('callback_url', sa.String(length=2048), nullable=True),
        sa.Column('parameters', sa.JSON(), nullable=True),
        sa.Column('rows', sa.JSON(), nullable=True),
        sa.Column('run_count', sa.Integer(), nullable=False),
        sa.Column('first_sequence', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['pipeline_id'], ['pipeline.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    op.create_index('ix_sweep_pipeline_id', 'sweep', ['pipeline_id'], unique=False)
    op.create_table(
        'input_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=32), nullable=False),
        sa.Column('pipeline_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['pipeline_id'], ['pipeline.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    op.create_index('ix_input_file_pipeline_id', 'input_file', ['pipeline_id'], unique=False)
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parameters', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('sweep_uuid', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key('fk_run_sweep_uuid_sweep', 'sweep', ['sweep_uuid'], ['uuid'])
        batch_op.create_index('ix_run_sweep_sequence', ['sweep_uuid', 'sequence'], unique=False)
        batch_op.create_index('ix_run_sweep_state', ['sweep_uuid', 'state'], unique=False)


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_sweep_state')
        batch_op.drop_index('ix_run_sweep_sequence')
        batch_op.drop_constraint('fk_run_sweep_uuid_sweep', type_='foreignkey')
        batch_op.drop_column('sweep_uuid')
        batch_op.drop_column('parameters')
    op.drop_index('ix_input_file_pipeline_id', table_name='input_file')
    op.drop_table('input_file')
    op.drop_index('ix_sweep_pipeline_id', table_name='sweep')
    op.drop_table('sweep')
