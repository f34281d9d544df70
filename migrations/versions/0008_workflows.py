"""workflows: DAGs of pipelines, their runs, and run.workflow_run_id

Revision ID: 0008_workflows
Revises: 0007_studies
Create Date: 2026-12-01 23:56:30.359969

The run state QUEUED needs no change: run.state is a plain string.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_workflows'
down_revision = '0007_studies'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workflow',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    op.create_table('workflow_pipeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('workflow_id', sa.Integer(), nullable=False),
    sa.Column('pipeline_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pipeline_id'], ['pipeline.id'], ),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflow.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('workflow_pipeline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_pipeline_workflow_id'), ['workflow_id'], unique=False)

    op.create_table('workflow_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('workflow_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflow.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('workflow_run', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_run_workflow_id_id', ['workflow_id', 'id'], unique=False)

    op.create_table('workflow_pipeline_edge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('destination_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['destination_id'], ['workflow_pipeline.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['workflow_pipeline.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'destination_id')
    )
    with op.batch_alter_table('workflow_pipeline_edge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_pipeline_edge_destination_id'), ['destination_id'], unique=False)

    op.create_table('workflow_run_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow_run_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workflow_run_id'], ['workflow_run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('workflow_run_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_run_state_workflow_run_id'), ['workflow_run_id'], unique=False)

    op.create_table('workflow_pipeline_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow_run_id', sa.Integer(), nullable=False),
    sa.Column('workflow_pipeline_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('source_run_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['workflow_pipeline_id'], ['workflow_pipeline.id'], ),
    sa.ForeignKeyConstraint(['workflow_run_id'], ['workflow_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id')
    )
    with op.batch_alter_table('workflow_pipeline_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_pipeline_run_workflow_run_id'), ['workflow_run_id'], unique=False)

    op.create_table('run_input_artifact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('artifact_id', 'run_id')
    )
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workflow_run_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_run_workflow_run_id', 'workflow_run', ['workflow_run_id'], ['id'])



def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_constraint('fk_run_workflow_run_id', type_='foreignkey')
        batch_op.drop_column('workflow_run_id')

    op.drop_table('run_input_artifact')
    with op.batch_alter_table('workflow_pipeline_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflow_pipeline_run_workflow_run_id'))

    op.drop_table('workflow_pipeline_run')
    with op.batch_alter_table('workflow_run_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflow_run_state_workflow_run_id'))

    op.drop_table('workflow_run_state')
    with op.batch_alter_table('workflow_pipeline_edge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflow_pipeline_edge_destination_id'))

    op.drop_table('workflow_pipeline_edge')
    with op.batch_alter_table('workflow_run', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_run_workflow_id_id')

    op.drop_table('workflow_run')
    with op.batch_alter_table('workflow_pipeline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflow_pipeline_workflow_id'))

    op.drop_table('workflow_pipeline')
    op.drop_table('workflow')
