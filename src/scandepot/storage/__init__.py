"""The file store: durable atomic writes, moves and deletes under the data folder."""

from scandepot.storage.store import FileStore, StagedFile, StoredDigest

__all__ = ["FileStore", "StagedFile", "StoredDigest"]
