"""All settings in one place.

Each setting is read, highest precedence first, from: arguments given in code (the CLI
options), the environment (``SCANDEPOT_<NAME>``), the TOML file named by
``SCANDEPOT_CONFIG`` (keys in lower case, without the prefix), then the default.
docs/settings.md lists every one; a test keeps that list complete.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
# Where scripts/fetch-viewer.sh (run by `make install`) puts the OHIF viewer: inside the
# Python environment scandepot runs in.
VIEWER_DIR = Path(sys.prefix) / "share" / "scandepot" / "ohif"


class SettingsFileError(Exception):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCANDEPOT_", extra="forbid")

    data_dir: Path = Field(
        default=Path("scandepot-data"),
        description="Folder for the file store and, by default, the SQLite catalog.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the catalog; default: SQLite in the data folder. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port.")
    site_id: str = Field(
        default="SD",
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,15}$",
        description="Prefix of site-wide IDs (SD_S00001 subjects, SD_E00001 sessions). "
        "Set it once, before the first subject is created.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of the 'admin' account created on first start; "
        "when unset one is generated and printed once.",
    )
    max_request_bytes: int = Field(
        default=1 * MiB, gt=0, description="Largest request body other than a file upload."
    )
    max_upload_bytes: int = Field(
        default=100 * GiB, gt=0, description="Largest single file upload."
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, description="Largest request head (request line + headers)."
    )
    session_hours: float = Field(
        default=12, gt=0, le=24 * 90, description="How long a browser sign-in lasts."
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, description="Failed sign-ins allowed per account in the window."
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="Failed sign-ins allowed per client address in the window."
    )
    login_failure_window_s: int = Field(
        default=900, ge=1, description="The window, in seconds, over which failures count."
    )
    token_max_days: int | None = Field(
        default=None, ge=1, description="Longest lifetime of an API token; unset: no limit."
    )
    ae_title: str = Field(
        default="SCANDEPOT",
        pattern=r"^[ -~]{1,16}$",
        description="The DICOM receiver's AE title.",
    )
    dicom_host: str = Field(default="127.0.0.1", description="Address the DICOM receiver binds.")
    dicom_port: int = Field(default=11112, ge=0, le=65535, description="DICOM receiver port.")
    dicom_allowed_aes: list[str] = Field(
        default_factory=list,
        description="Calling AE titles allowed to send; empty: any. "
        'Environment: a JSON list, e.g. ["SCANNER1","SCANNER2"].',
    )
    ae_projects: dict[str, str] = Field(
        default_factory=dict,
        description="Further AE titles the receiver answers to, each with its default "
        'project. Environment: a JSON object, e.g. {"MRI_PILOT": "PILOT"}.',
    )
    dicom_max_pdu: int = Field(
        default=262_144, ge=0, description="Largest PDU the receiver accepts; 0: no limit."
    )
    dicom_max_associations: int = Field(
        default=16, ge=1, description="Associations the receiver serves at once."
    )
    dicom_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes receiving DICOM on the one port (SO_REUSEPORT), each with "
        "its own catalog connections; worth more than 1 with PostgreSQL.",
    )
    dicom_reuse_port: bool = Field(
        default=False,
        description="Whether the receiver shares its port with other receiving processes "
        "started on their own (SO_REUSEPORT), such as several `scandepot dicom` on one host.",
    )
    dicom_enabled: bool = Field(
        default=True,
        description="Whether `scandepot serve` receives DICOM and runs the prearchive builder; "
        "false for web servers beside `scandepot dicom` processes.",
    )
    dicom_timeout_s: float = Field(
        default=60, gt=0, description="How long a silent association is kept open."
    )
    dicom_find_limit: int = Field(
        default=10_000,
        ge=0,
        description="Most matches one C-FIND answers (the first ones, in the query "
        "engine's order); 0: no limit.",
    )
    dicom_unmapped_peers: Literal["public", "refuse"] = Field(
        default="public",
        description="What a calling AE title that is no DICOM node's may query and retrieve "
        "(C-FIND, C-GET, C-MOVE): public projects, as anonymous visitors; or nothing.",
    )
    sftp_enabled: bool = Field(
        default=True,
        description="Whether `scandepot serve` runs the SFTP server (drop accounts and "
        "researchers' read-only project folders).",
    )
    sftp_host: str = Field(default="127.0.0.1", description="Address the SFTP server binds.")
    sftp_port: int = Field(default=2222, ge=0, le=65535, description="SFTP server port.")
    prearchive_quiet_s: float = Field(
        default=10,
        ge=0,
        description="Quiet time after the last instance before a staged session is built.",
    )
    import_max_expanded_bytes: int = Field(
        default=500 * GiB,
        gt=0,
        description="Largest total size the files of one uploaded archive may expand to.",
    )
    import_max_ratio: float = Field(
        default=200,
        gt=1,
        description="Largest ratio of expanded to uploaded bytes (zip bombs); checked once "
        "an upload has expanded past 64 MiB.",
    )
    import_max_members: int = Field(
        default=200_000, gt=0, description="Most entries one uploaded archive may hold."
    )
    stow_max_instance_bytes: int = Field(
        default=4 * GiB,
        gt=0,
        description="Largest instance (one part) a STOW-RS request may carry; a larger "
        "part fails alone.",
    )
    download_files_ahead: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Files a tar or zip download sent by `scandepot serve` opens ahead of the "
        "one it sends (at most 32 MiB of them).",
    )
    viewer_dir: Path = Field(
        default=VIEWER_DIR,
        description="Folder of the OHIF viewer (the dist/ folder of the @ohif/app npm "
        "package) served under /viewer.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    pipeline_executor: Literal["local", "celery"] = Field(
        default="local",
        description="Where pipeline jobs run: 'local' (a process pool inside `scandepot serve`) "
        "or 'celery' (`scandepot worker` processes fed through the Celery broker).",
    )
    pipeline_workers: int = Field(
        default=2, ge=1, le=256, description="Jobs the local executor runs at once."
    )
    pipeline_poll_s: float = Field(
        default=2.0, gt=0, le=300, description="How often executors look for queued jobs."
    )
    pipeline_heartbeat_s: float = Field(
        default=10.0, gt=0, le=600, description="How often a running job proves it is alive."
    )
    pipeline_stale_after_s: float = Field(
        default=120.0,
        gt=0,
        description="A running job silent this long is taken as interrupted and queued again.",
    )
    pipeline_max_attempts: int = Field(
        default=3, ge=1, le=100, description="Interruptions after which a job is failed."
    )
    celery_broker_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Celery broker (Redis or RabbitMQ) URL."
    )
    celery_queue: str = Field(
        default="scandepot",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Name of the Celery queue pipeline jobs are sent to.",
    )
    push_retry_s: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="First wait before a push tries an unreachable destination again; "
        "doubled each time.",
    )

    smtp_host: str | None = Field(
        default=None,
        description="Mail server for notifications; unset: messages are written to the log "
        "instead of sent (they still go through the outbox).",
    )
    smtp_port: int = Field(
        default=25, ge=1, le=65535, description="Mail server port (25, 587 STARTTLS, 465 TLS)."
    )
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none",
        description="How the connection to the mail server is protected: 'none', 'starttls' "
        "(upgraded after connecting, usually port 587) or 'tls' (implicit TLS, port 465).",
    )
    smtp_user: str | None = Field(default=None, description="Mail server user name (AUTH).")
    smtp_password: SecretStr | None = Field(
        default=None, description="Mail server password (AUTH); never logged or shown."
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) the mail server's certificate is checked against; "
        "unset: the system's.",
    )
    smtp_timeout_s: float = Field(
        default=30, gt=0, le=600, description="How long one exchange with the mail server may take."
    )
    mail_from: str = Field(
        default="scandepot@localhost", description="The From address of every message."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The site's address as people reach it, for links in messages "
        "(e.g. https://archive.example.org).",
    )
    notify_batch_s: float = Field(
        default=60,
        ge=0,
        description="Messages wait this long after the last event for their recipient, so "
        "that many events at once (a 40-session import) make one message with a list.",
    )
    notify_batch_max_s: float = Field(
        default=900,
        ge=0,
        description="Longest a message waits for more events before it is sent anyway.",
    )
    notify_stuck_after_min: float = Field(
        default=60,
        gt=0,
        description="A staged session not archived this many minutes after its last "
        "instance is reported to the site administrators as stuck.",
    )
    notify_poll_s: float = Field(
        default=5, gt=0, le=300, description="How often the notification sender looks for work."
    )
    notify_max_attempts: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Attempts at one message or webhook delivery before it is given up "
        "(with back-off: 30 s doubling, at most an hour apart).",
    )
    webhook_timeout_s: float = Field(
        default=10, gt=0, le=120, description="How long one webhook delivery may take."
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        description="The Fernet key that encrypts the secrets of push destinations; unset: "
        "a key made at first use in the data folder (secrets.key, readable by its owner only).",
    )
    push_timeout_s: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How long one exchange with a push destination may take (connecting, "
        "sending a batch, its answer).",
    )

    dataset_metadata_fields: Path | None = Field(
        default=None,
        description='A JSON file of the site\'s own dataset metadata fields ({"properties": '
        '{...}, "required": [...]}), added to the schema of docs/datasets.md; unset: none.',
    )
    dataset_suppress_below: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Counts below this in a published dataset's aggregates are shown as "
        "'<N' (small-cell suppression); 1 shows every count.",
    )

    site_timezone: str = Field(
        default="UTC",
        description="The site's time zone (an IANA name such as Europe/Amsterdam): the days "
        "and times of retention's weekday tables, and DICOM dates and times that carry no "
        "offset of their own.",
    )
    retention_interval_s: float = Field(
        default=300,
        ge=0,
        description="How often `scandepot serve` and each `scandepot worker` run retention "
        "(warnings and deletions of the staging areas; one run at a time site-wide); 0: never "
        "on its own, only `scandepot retention run`.",
    )

    @field_validator("site_timezone")
    @classmethod
    def _site_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is no IANA time zone (Europe/Amsterdam)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SCANDEPOT_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise SettingsFileError(
                    f"SCANDEPOT_CONFIG names '{config_file}', which is not a file."
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def catalog_url(self) -> str:
        """The database URL in force: the setting, or SQLite inside the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'scandepot.db').resolve()}"
