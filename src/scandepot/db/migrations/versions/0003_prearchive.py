"""prearchive and DICOM instances

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prearchive_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_key", sa.String(length=64), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("session", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("routing", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("scans", sa.JSON(), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        sa.Column("patient_name", sa.String(length=324), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("patient_birth_date", sa.String(length=8), nullable=True),
        sa.Column("patient_sex", sa.String(length=16), nullable=True),
        sa.Column("study_date", sa.Date(), nullable=True),
        sa.Column("study_time", sa.Time(), nullable=True),
        sa.Column("study_description", sa.String(length=64), nullable=True),
        sa.Column("accession_number", sa.String(length=16), nullable=True),
        sa.Column("referring_physician_name", sa.String(length=324), nullable=True),
        sa.Column("institution_name", sa.String(length=64), nullable=True),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("manufacturer_model_name", sa.String(length=64), nullable=True),
        sa.Column("station_name", sa.String(length=16), nullable=True),
        sa.Column("magnetic_field_strength", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prearchive_session")),
        sa.UniqueConstraint(
            "project_key",
            "study_instance_uid",
            name=op.f("uq_prearchive_session_project_key_study_instance_uid"),
        ),
    )
    with op.batch_alter_table("prearchive_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prearchive_session_last_received_at"), ["last_received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_prearchive_session_project_key"), ["project_key"], unique=False
        )

    op.create_table(
        "dicom_instance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("prearchive_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(length=64), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("series_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("series_description", sa.String(length=64), nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("body_part_examined", sa.String(length=16), nullable=True),
        sa.Column("instance_number", sa.Integer(), nullable=True),
        sa.Column("number_of_frames", sa.Integer(), nullable=True),
        sa.Column("spool_path", sa.String(length=1024), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("received_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["file.id"],
            name=op.f("fk_dicom_instance_file_id_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prearchive_id"],
            ["prearchive_session.id"],
            name=op.f("fk_dicom_instance_prearchive_id_prearchive_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scan.id"],
            name=op.f("fk_dicom_instance_scan_id_scan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dicom_instance")),
    )
    with op.batch_alter_table("dicom_instance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dicom_instance_file_id"), ["file_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dicom_instance_prearchive_id"), ["prearchive_id"], unique=False
        )
        batch_op.create_index(
            "ix_dicom_instance_prearchive_sop", ["prearchive_id", "sop_instance_uid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dicom_instance_scan_id"), ["scan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dicom_instance_series_instance_uid"),
            ["series_instance_uid"],
            unique=False,
        )
        batch_op.create_index(
            "ix_dicom_instance_sop_instance_uid", ["sop_instance_uid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dicom_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_dicom_instance_sop_instance_uid")
        batch_op.drop_index(batch_op.f("ix_dicom_instance_series_instance_uid"))
        batch_op.drop_index(batch_op.f("ix_dicom_instance_scan_id"))
        batch_op.drop_index("ix_dicom_instance_prearchive_sop")
        batch_op.drop_index(batch_op.f("ix_dicom_instance_prearchive_id"))
        batch_op.drop_index(batch_op.f("ix_dicom_instance_file_id"))

    op.drop_table("dicom_instance")
    with op.batch_alter_table("prearchive_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prearchive_session_project_key"))
        batch_op.drop_index(batch_op.f("ix_prearchive_session_last_received_at"))

    op.drop_table("prearchive_session")
