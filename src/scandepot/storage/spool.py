"""Where staged instances are kept: ``prearchive/{staged session}/{series}/{instance}.dcm``
under the data folder. The one place that names a spool path."""

from __future__ import annotations

from pathlib import Path

from scandepot.dicom import uids
from scandepot.errors import Invalid
from scandepot.storage.store import FileStore

FOLDER = "prearchive"


def root(store: FileStore) -> Path:
    """The folder that holds every staged session's folder."""
    return store.data_dir / FOLDER


def folder(store: FileStore, staged_id: int) -> Path:
    """A staged session's folder: its instances, and the journal of an archive under way."""
    return root(store) / str(staged_id)


def name(staged_id: int, series: str, sop: str, suffix: str = "") -> str:
    """Where a staged instance is kept, relative to the data folder (as catalogued).

    The UIDs were checked when the header was read; they are checked again here, where
    they become a path, so that no caller can name a file outside the spool."""
    if not (uids.is_valid(series) and uids.is_valid(sop)):
        raise Invalid(
            f"Not a UID: SeriesInstanceUID {series!r} or SOPInstanceUID {sop!r}.", field="dicom"
        )
    return f"{FOLDER}/{staged_id}/{series}/{sop}{suffix}.dcm"
