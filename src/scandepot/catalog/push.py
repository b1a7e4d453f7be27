"""Pushes to other nodes: the destinations a site sends to, and each push with its
per-instance status.

- :class:`PushDestination`: a node the site sends to, set up by site administrators: a
  DICOMweb STOW-RS endpoint, a DICOM C-STORE peer, or an XNAT (or another scandepot) by its
  import service. Its secret is stored encrypted (``secret``, a Fernet token) or named as
  an environment variable (``secret_env``); it is never shown back. An ``external``
  destination takes nothing that has not been through a de-identification script: its own
  (``script_*``), or else the source project's export script.
- :class:`PushDestinationProject`: a project allowed to push to a destination.
- :class:`Push`: one request to send sessions of a project to a destination, run as a job
  in the one queue (``Job.pipeline == "push"``); its report says what was sent, refused
  and found on the far side.
- :class:`PushInstance`: one instance of a push and how far it got: pending, sent (the
  peer said it stored it), present (the peer already held it), failed (with the peer's
  reason), verified (found on the far side by the final check). A push resumed after a
  restart goes on from the instances not sent.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

NAME_LENGTH = 64
UID_LENGTH = 64


class DestinationKind(enum.StrEnum):
    DICOMWEB = "dicomweb"  # STOW-RS to ``url`` (the DICOMweb root), QIDO-RS to check
    DIMSE = "dimse"  # C-STORE to ``ae_title`` at ``host``:``port``, C-FIND to check
    XNAT = "xnat"  # XNAT's import service at ``url`` (an XNAT, or another scandepot)


class AuthKind(enum.StrEnum):
    NONE = "none"
    BASIC = "basic"  # ``username`` and the secret as the password
    BEARER = "bearer"  # the secret as the token


class PushDestination(Base):
    __tablename__ = "push_destination"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # dicomweb and xnat: the base URL (http or https only).
    url: Mapped[str | None] = mapped_column(String(1024))
    # dimse: the peer's AE title and address; ``calling_ae`` is ours (settings when None).
    ae_title: Mapped[str | None] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    calling_ae: Mapped[str | None] = mapped_column(String(16))
    # xnat: the project on the far side that sessions land in.
    remote_project: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    auth: Mapped[str] = mapped_column(String(16), nullable=False, default=AuthKind.NONE.value)
    username: Mapped[str | None] = mapped_column(String(255))
    # One of the two, or neither: the secret encrypted with the site's key, or the name of
    # the environment variable that holds it.
    secret: Mapped[str | None] = mapped_column(Text)
    secret_env: Mapped[str | None] = mapped_column(String(255))
    # TLS: verification on by default; a CA bundle and a client certificate by path.
    verify_tls: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    ca_bundle: Mapped[str | None] = mapped_column(String(1024))
    client_cert: Mapped[str | None] = mapped_column(String(1024))
    client_key: Mapped[str | None] = mapped_column(String(1024))
    external: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The destination's own de-identification script (deid/ kinds: profile, ctp); None
    # for none. ``script_version`` counts its changes, for pushes to say which they ran.
    script_kind: Mapped[str | None] = mapped_column(String(16))
    script_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    script_pixel_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    script_sha256: Mapped[str | None] = mapped_column(String(64))
    script_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Batches in flight at once (each a request or an association), and tries of one
    # instance before it is failed.
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False, default=4)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=12)
    # Clinical data along with a push: "" none, "rest" JSON per subject to
    # ``clinical_url``, "xnat" a resource on the far XNAT subject.
    clinical: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    clinical_url: Mapped[str | None] = mapped_column(String(1024))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class PushDestinationProject(Base):
    __tablename__ = "push_destination_project"

    destination_id: Mapped[int] = mapped_column(
        ForeignKey("push_destination.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PushStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every instance sent (or present) and found on the far side
    FAILED = "failed"  # ended with instances not sent or not found; the report says which
    CANCELLED = "cancelled"


class InstanceStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"  # the peer said it stored it
    PRESENT = "present"  # the peer held it already (found before sending)
    FAILED = "failed"  # tries used up, or refused for good; ``reason`` says why
    REFUSED = "refused"  # not sent: the script refused it (burned-in annotation, ...)
    VERIFIED = "verified"  # sent or present, and found by the final check


class Push(Base):
    __tablename__ = "push"
    __table_args__ = (Index("ix_push_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # By ID and by name: a report outlives a deleted destination or project.
    destination_id: Mapped[int | None] = mapped_column(
        ForeignKey("push_destination.id", ondelete="SET NULL"), index=True
    )
    destination: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    project: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    # What was asked, as the service's request model dumps it.
    request: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # The script it ran ("destination v2 sha256:…", "export v3 sha256:…"), "" for none.
    script: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PushStatus.QUEUED.value)
    message: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    instances_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    instances_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PushInstance(Base):
    __tablename__ = "push_instance"
    __table_args__ = (
        UniqueConstraint("push_id", "instance_id"),
        Index("ix_push_instance_status", "push_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    push_id: Mapped[int] = mapped_column(
        ForeignKey("push.id", ondelete="CASCADE"), nullable=False, index=True
    )
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("dicom_instance.id", ondelete="SET NULL"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    # The UIDs as they leave (after the script), known before the first send: what the far
    # side is asked about to resume and to verify.
    study_uid: Mapped[str] = mapped_column(String(UID_LENGTH), nullable=False, default="")
    series_uid: Mapped[str] = mapped_column(String(UID_LENGTH), nullable=False, default="")
    sop_uid: Mapped[str] = mapped_column(String(UID_LENGTH), nullable=False, default="")
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=InstanceStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reason: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
