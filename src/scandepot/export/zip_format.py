"""Stored zip entries with their sizes and CRC-32 ahead of the bytes (PKWARE APPNOTE 6.3).

Each entry is a local file header (APPNOTE 4.3.7) that already holds the CRC-32 and both
sizes, then the bytes, stored (method 0); general purpose bit 3 is never set, so there
is no data descriptor (4.3.9). A reader that goes front to back through local headers
only (Java's ``ZipInputStream``, which refuses stored entries with data descriptors)
reads it as well as one that starts from the central directory (4.3.12) at the end.

ZIP64 (4.3.14, 4.5.3) where a value needs it, with the thresholds of Python's
:mod:`zipfile` (values over 2 GiB - 1, for readers that take the fields as signed):
an entry over that size has both sizes in a ZIP64 extra field of its local header
(0xFFFFFFFF in the header's fields) and of its central header; an entry whose local
header is past it has its offset in the central header's field; more than 65,535
entries, or a central directory past or over it, add the ZIP64 end of central directory
record and its locator (4.3.14, 4.3.15) before the end record.

Nothing here depends on the bytes but the CRC: the length of the whole zip is known from
the names and sizes alone (:func:`zip_size`). Both take the thresholds as :class:`Limits`;
lowered ones give a small zip the records of a large one.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable
from dataclasses import dataclass

ZIP64_LIMIT = (1 << 31) - 1  # as zipfile.ZIP64_LIMIT
ZIP_FILECOUNT_LIMIT = 0xFFFF


@dataclass(frozen=True, slots=True)
class Limits:
    """Past ``size`` bytes a size or offset, and past ``entries`` the count of entries,
    takes ZIP64 records."""

    size: int = ZIP64_LIMIT
    entries: int = ZIP_FILECOUNT_LIMIT


LIMITS = Limits()
_MAX32 = 0xFFFFFFFF
_UTF8 = 1 << 11  # general purpose bit 11: the name is UTF-8 (APPNOTE 4.4.4, appendix D)
_UNIX = 3  # "version made by", upper byte: the external attributes are Unix modes (4.4.2)
_VERSION = 20  # 2.0: stored entries, folders (4.4.3)
_VERSION_ZIP64 = 45  # 4.5: ZIP64 records
_MODE = 0o644 << 16  # external attributes: rw-r--r--

# 4.3.7 local file header: signature, version needed, flags, method, time, date, CRC-32,
# compressed size, uncompressed size, name length, extra field length.
_LOCAL = struct.Struct("<IHHHHHIIIHH")
# 4.3.12 central directory header: signature, version made by, version needed, flags,
# method, time, date, CRC-32, compressed size, uncompressed size, name, extra and comment
# lengths, disk number, internal attributes, external attributes, local header offset.
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
# 4.3.14 ZIP64 end of central directory record: signature, size of the rest (44), version
# made by, version needed, this disk, the central directory's disk, entries on this disk,
# entries, central directory size, its offset.
_END64 = struct.Struct("<IQHHIIQQQQ")
# 4.3.15 ZIP64 end of central directory locator: signature, the record's disk, its offset,
# number of disks.
_LOCATOR = struct.Struct("<IIQI")
# 4.3.16 end of central directory record: signature, this disk, the central directory's
# disk, entries on this disk, entries, central directory size, its offset, comment length.
_END = struct.Struct("<IHHHHIIH")
_ZIP64_FIELD = struct.Struct("<HH")  # 4.5.3: header ID 0x0001, size of the data
_LOCAL_SIG, _CENTRAL_SIG = 0x04034B50, 0x02014B50
_END64_SIG, _LOCATOR_SIG, _END_SIG = 0x06064B50, 0x07064B50, 0x06054B50
_END64_SIZE = _END64.size + _LOCATOR.size


def _encoded(name: str) -> tuple[bytes, int]:
    """The name as stored and its flags: ASCII as is, anything else UTF-8 with bit 11, as
    zipfile does."""
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), _UTF8


def _dos_time(moment: dt.datetime) -> tuple[int, int]:
    """MS-DOS date and time (4.4.6): 1980 to 2107, two-second steps; the catalog's UTC."""
    if moment.year < 1980:
        return (0 << 9) | (1 << 5) | 1, 0
    if moment.year > 2107:
        return (127 << 9) | (12 << 5) | 31, (23 << 11) | (59 << 5) | 29
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return date, (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)


def _local_extra(size: int, limits: Limits) -> int:
    return _ZIP64_FIELD.size + 16 if size > limits.size else 0


def _central_extra(size: int, offset: int, limits: Limits) -> int:
    count = (2 if size > limits.size else 0) + (1 if offset > limits.size else 0)
    return _ZIP64_FIELD.size + 8 * count if count else 0


def _needs_end64(count: int, central: int, offset: int, limits: Limits) -> bool:
    return count > limits.entries or central > limits.size or offset > limits.size


def zip_size(entries: Iterable[tuple[str, int]], *, limits: Limits = LIMITS) -> int:
    """The exact length of the zip :class:`ZipWriter` makes of these (name, size) entries,
    in this order."""
    offset = central = count = 0
    for name, size in entries:
        encoded = len(_encoded(name)[0])
        central += _CENTRAL.size + encoded + _central_extra(size, offset, limits)
        offset += _LOCAL.size + encoded + _local_extra(size, limits) + size
        count += 1
    end64 = _END64_SIZE if _needs_end64(count, central, offset, limits) else 0
    return offset + central + end64 + _END.size


class ZipWriter:
    """Headers for entries given in order (:meth:`head` before each entry's bytes), then
    the central directory and the end records (:meth:`end`)."""

    def __init__(self, *, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self.offset = 0  # of the next local header
        self._central: list[bytes] = []

    def head(self, name: str, size: int, modified: dt.datetime, crc32: int) -> bytes:
        """The local header of an entry of ``size`` bytes whose CRC-32 is ``crc32``."""
        encoded, flags = _encoded(name)
        date, time = _dos_time(modified)
        big = size > self.limits.size
        far = self.offset > self.limits.size
        sized = _MAX32 if big else size
        fields = (flags, 0, time, date, crc32, sized, sized, len(encoded))  # 0: stored
        local_extra = _zip64_field([size, size] if big else [])
        needed = _VERSION_ZIP64 if big else _VERSION
        header = _LOCAL.pack(_LOCAL_SIG, needed, *fields, len(local_extra))
        extra = _zip64_field(([size, size] if big else []) + ([self.offset] if far else []))
        needed = _VERSION_ZIP64 if extra else _VERSION
        made = (_UNIX << 8) | needed
        offset = _MAX32 if far else self.offset
        central = _CENTRAL.pack(
            _CENTRAL_SIG, made, needed, *fields, len(extra), 0, 0, 0, _MODE, offset
        )
        self._central.append(central + encoded + extra)
        self.offset += len(header) + len(encoded) + len(local_extra) + size
        return header + encoded + local_extra

    def end(self) -> bytes:
        """The central directory and the end records: only once every entry is whole."""
        central = b"".join(self._central)
        count, size, start = len(self._central), len(central), self.offset
        tail = b""
        if _needs_end64(count, size, start, self.limits):
            made = (_UNIX << 8) | _VERSION_ZIP64
            record = (made, _VERSION_ZIP64, 0, 0, count, count, size, start)
            tail = _END64.pack(_END64_SIG, _END64.size - 12, *record)
            tail += _LOCATOR.pack(_LOCATOR_SIG, 0, start + size, 1)
        # Values too large for their field are 0xFFFF or 0xFFFFFFFF there (4.4.1.4).
        counted = min(count, 0xFFFF)
        record32 = (0, 0, counted, counted, min(size, _MAX32), min(start, _MAX32), 0)
        return central + tail + _END.pack(_END_SIG, *record32)


def _zip64_field(values: list[int]) -> bytes:
    """The ZIP64 extended information extra field (4.5.3) holding ``values``, which are
    those of the sizes (both, in a local header) and offset that did not fit."""
    if not values:
        return b""
    return _ZIP64_FIELD.pack(1, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)
