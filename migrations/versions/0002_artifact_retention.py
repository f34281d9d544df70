"""artifact retention: artifact.expired_at

Revision ID: 0002_artifact_retention
Revises: 0001_initial
Create Date: 2026-11-26 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_artifact_retention'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    # batch mode: SQLite rebuilds the table, PostgreSQL alters it in place.
    with op.batch_alter_table('artifact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('artifact', schema=None) as batch_op:
        batch_op.drop_column('expired_at')
