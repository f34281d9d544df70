"""run.final_json: a finished run's JSON, stored for listings

Revision ID: 0004_run_final_json
Revises: 0002_artifact_retention
Create Date: 2026-11-26 20:40:00.000000

Runs that ended before this revision keep no stored JSON: listings build
theirs on each request, as before (app/runs/final_json.py).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_run_final_json'
down_revision = '0002_artifact_retention'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('final_json', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('final_json')
