"""the archive catalog and accounts

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = op.create_table(
        "counter",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counter")),
    )
    op.bulk_insert(counter, [{"name": "subject", "value": 0}, {"name": "session", "value": 0}])
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("accessibility", sa.String(length=16), nullable=False),
        sa.Column("upload_destination", sa.String(length=32), nullable=False),
        sa.Column("allow_subject_creation", sa.Boolean(), nullable=False),
        sa.Column("bulk_upload_allowed", sa.Boolean(), nullable=False),
        sa.Column("series_filter_mode", sa.String(length=16), nullable=False),
        sa.Column("series_filter", sa.JSON(), nullable=False),
        sa.Column("notification_recipients", sa.JSON(), nullable=False),
        sa.Column("conflict_policy", sa.String(length=16), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("label", name=op.f("uq_project_label")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_site_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "password_changed_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("login", name=op.f("uq_user_account_login")),
    )
    op.create_table(
        "project_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_role_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_project_role_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_role")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("uq_project_role_project_id_user_id")
        ),
    )
    with op.batch_alter_table("project_role", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_role_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_project_role_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accession", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_subject_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
        sa.UniqueConstraint("accession", name=op.f("uq_subject_accession")),
        sa.UniqueConstraint("project_id", "label", name=op.f("uq_subject_project_id_label")),
    )
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_project_id"), ["project_id"], unique=False)

    op.create_table(
        "session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accession", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("time", sa.Time(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=True),
        sa.Column("accession_number", sa.String(length=16), nullable=True),
        sa.Column("study_description", sa.String(length=64), nullable=True),
        sa.Column("patient_name", sa.String(length=324), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("patient_birth_date", sa.String(length=8), nullable=True),
        sa.Column("patient_sex", sa.String(length=16), nullable=True),
        sa.Column("referring_physician_name", sa.String(length=324), nullable=True),
        sa.Column("modalities_in_study", sa.String(length=64), nullable=True),
        sa.Column("institution_name", sa.String(length=64), nullable=True),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("manufacturer_model_name", sa.String(length=64), nullable=True),
        sa.Column("station_name", sa.String(length=16), nullable=True),
        sa.Column("magnetic_field_strength", sa.Float(), nullable=True),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_session_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_session_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session")),
        sa.UniqueConstraint("accession", name=op.f("uq_session_accession")),
        sa.UniqueConstraint("project_id", "label", name=op.f("uq_session_project_id_label")),
    )
    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_date"), ["date"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_modality"), ["modality"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_session_study_instance_uid"), ["study_instance_uid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_session_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("series_instance_uid", sa.String(length=64), nullable=True),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("series_description", sa.String(length=64), nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("body_part_examined", sa.String(length=16), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("quality", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_scan_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan")),
        sa.UniqueConstraint("session_id", "label", name=op.f("uq_scan_session_id_label")),
    )
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scan_series_instance_uid"), ["series_instance_uid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_scan_session_id"), ["session_id"], unique=False)

    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_key", sa.String(length=48), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=True),
        sa.Column("content", sa.String(length=255), nullable=True),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_resource_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scan.id"], name=op.f("fk_resource_scan_id_scan"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_resource_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_resource_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.UniqueConstraint("parent_key", "label", name=op.f("uq_resource_parent_key_label")),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_scan_id"), ["scan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=True),
        sa.Column("content", sa.String(length=255), nullable=True),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resource.id"],
            name=op.f("fk_file_resource_id_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file")),
        sa.UniqueConstraint("resource_id", "path", name=op.f("uq_file_resource_id_path")),
    )
    with op.batch_alter_table("file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_resource_id"), ["resource_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_resource_id"))

    op.drop_table("file")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_subject_id"))
        batch_op.drop_index(batch_op.f("ix_resource_session_id"))
        batch_op.drop_index(batch_op.f("ix_resource_scan_id"))
        batch_op.drop_index(batch_op.f("ix_resource_project_id"))

    op.drop_table("resource")
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_session_id"))
        batch_op.drop_index(batch_op.f("ix_scan_series_instance_uid"))

    op.drop_table("scan")
    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_subject_id"))
        batch_op.drop_index(batch_op.f("ix_session_study_instance_uid"))
        batch_op.drop_index(batch_op.f("ix_session_project_id"))
        batch_op.drop_index(batch_op.f("ix_session_modality"))
        batch_op.drop_index(batch_op.f("ix_session_date"))

    op.drop_table("session")
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_project_id"))

    op.drop_table("subject")
    with op.batch_alter_table("project_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_role_user_id"))
        batch_op.drop_index(batch_op.f("ix_project_role_project_id"))

    op.drop_table("project_role")
    op.drop_table("user_account")
    op.drop_table("project")
    op.drop_table("counter")
