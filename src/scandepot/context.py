"""What every service needs: settings, the catalog and the file store, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from scandepot.db.engine import Database
from scandepot.events import EventBus
from scandepot.settings import Settings
from scandepot.storage.store import FileStore


@dataclass
class Context:
    settings: Settings
    db: Database
    store: FileStore
    events: EventBus = field(default_factory=EventBus)

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        return cls(settings, Database(settings.catalog_url), FileStore(settings.data_dir))

    def archive_path(self, relative: PurePosixPath) -> Path:
        return self.store.archive.joinpath(*relative.parts)

    def close(self) -> None:
        self.db.dispose()
