"""Where a built session goes next, by its project's upload destination: the archive,
on its own (``archive``, ``archive-overwrite``), or the prearchive, until someone asks."""

from __future__ import annotations

from scandepot.catalog.archive import UploadDestination

# The destinations under which a session is archived once it is built.
AUTOMATIC = (UploadDestination.ARCHIVE, UploadDestination.ARCHIVE_OVERWRITE)


def archives_after_build(destination: str | None) -> bool:
    """True when a project with this upload destination archives built sessions."""
    return destination in AUTOMATIC


def overwrites(destination: str | None) -> bool:
    """True when such an archive replaces archived files that differ."""
    return destination == UploadDestination.ARCHIVE_OVERWRITE
