"""Reading uploaded archives safely: zip, tar, tar.gz (and tar.bz2, tar.xz).

The format is recognised from the first bytes, never from a name or a content type.
Members are read one at a time as streams; nothing is extracted under a member's own name,
so a name only has to be judged, never trusted. An archive is refused as a whole when it
holds a member that could not be extracted safely elsewhere (an absolute path, a ``..``
component, a link, a device) or cannot be read to its end (truncated, damaged, encrypted),
and when it expands past the limits on total size, ratio and member count (zip bombs).
The expanded size counted is what is actually read, not what headers declare. A tar must
end as POSIX says, with two 512-byte zero blocks: one cut at a member boundary otherwise
reads as a shorter archive that looks whole.

scandepot's own downloads hold ``manifest.json`` and ``manifest.sha256``
(export/manifest.py): recognised by their content, they are not members to import; the
SHA-256 they list checks each member read after them, and a member with other bytes
refuses the archive.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from scandepot.errors import Invalid, TooLarge, Unsupported

CHUNK = 1024 * 1024
MAX_LISTED = 100  # offenders named in one answer
RATIO_FLOOR = 64 * 1024 * 1024  # the ratio limit applies once this much has expanded
_SYSTEM_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
# The names export/manifest.py gives a download's manifests (MANIFEST_NAME, SHA256SUMS_NAME).
MANIFEST_NAMES = frozenset({"manifest.json", "manifest.sha256"})
MANIFEST_MAX = 64 * 1024 * 1024  # a manifest larger than this is read as any other member
_SHA256_LINE = re.compile(r"([0-9a-f]{64})  (.+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Format(enum.StrEnum):
    ZIP = "zip"
    TAR = "tar"
    TAR_GZ = "tar.gz"
    TAR_BZ2 = "tar.bz2"
    TAR_XZ = "tar.xz"


@dataclass(frozen=True, slots=True)
class Limits:
    max_expanded_bytes: int
    max_ratio: float
    max_members: int


def sniff(path: Path) -> Format:
    """The archive format, from the bytes; :class:`Unsupported` for anything else."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise Invalid("The upload is empty.", field="body")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Format.ZIP
    if head[:2] == b"\x1f\x8b":
        return Format.TAR_GZ
    if head[:3] == b"BZh":
        return Format.TAR_BZ2
    if head[:6] == b"\xfd7zXZ\x00":
        return Format.TAR_XZ
    if head[257:262] == b"ustar" or (len(head) == 512 and _tar_checksum_ok(head)):
        return Format.TAR
    if len(head) == 512 and not head.strip(b"\0"):  # an empty tar: only end blocks
        return Format.TAR
    if head[128:132] == b"DICM":
        raise Unsupported(
            "The upload is a single DICOM file; put it in a zip, tar or tar.gz archive.",
            field="body",
        )
    raise Unsupported("The upload is not a zip, tar or tar.gz archive.", field="body")


def _tar_checksum_ok(block: bytes) -> bool:
    """A pre-POSIX tar header has no magic, only a checksum."""
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape the folder it is extracted into, or None."""
    if not name:
        return "an empty name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "an absolute path"
    if any(part == ".." for part in posix.split("/")):
        return "a '..' component"
    if "\x00" in name:
        return "a NUL character"
    return None


def system_file(name: str) -> bool:
    """Files operating systems leave in archives: never data, always skipped."""
    path = PurePosixPath(name.replace("\\", "/"))
    return (
        (bool(path.parts) and path.parts[0] == "__MACOSX")
        or path.name.startswith("._")
        or path.name.lower() in _SYSTEM_NAMES
    )


class _Budget:
    """Counts expanded bytes and members against the limits."""

    def __init__(self, limits: Limits, uploaded: int) -> None:
        self.limits = limits
        self.uploaded = max(uploaded, 1)
        self.expanded = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise TooLarge(
                f"The archive holds more than {self.limits.max_members} entries "
                "(SCANDEPOT_IMPORT_MAX_MEMBERS).",
                field="body",
            )

    def add(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.limits.max_expanded_bytes:
            raise TooLarge(
                f"The archive expands to more than {self.limits.max_expanded_bytes} bytes "
                "(SCANDEPOT_IMPORT_MAX_EXPANDED_BYTES).",
                field="body",
            )
        if self.expanded > RATIO_FLOOR and self.expanded > self.limits.max_ratio * self.uploaded:
            raise TooLarge(
                f"The archive expands more than {self.limits.max_ratio:g} times its size "
                "(SCANDEPOT_IMPORT_MAX_RATIO); refused as a possible zip bomb.",
                field="body",
            )


class Member:
    """One regular file in the archive, to be read (once) before the next is asked for."""

    def __init__(
        self,
        name: str,
        stream: IO[bytes],
        budget: _Budget | None,
        size: int,
        *,
        sha256: str | None = None,
    ) -> None:
        self.name = name
        self._stream = stream
        self._budget = budget  # None: the bytes were counted already
        self.size = size  # as declared; what is read is counted separately
        self._sha256 = sha256  # as the archive's manifest lists it

    def chunks(self) -> Iterator[bytes]:
        read = 0
        digest = hashlib.sha256() if self._sha256 is not None else None
        try:
            while chunk := self._stream.read(CHUNK):
                read += len(chunk)
                if self._budget is not None:
                    self._budget.add(len(chunk))
                if digest is not None:
                    digest.update(chunk)
                yield chunk
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise _damaged(exc, self.name) from None
        if read != self.size:
            raise Invalid(
                f"The archive is truncated or damaged: '{self.name}' holds {read} of its "
                f"{self.size} bytes.",
                field="body",
            )
        if digest is not None and digest.hexdigest() != self._sha256:
            raise Invalid(
                f"The archive is damaged: '{self.name}' does not have the SHA-256 its "
                "manifest lists. Nothing was imported.",
                field="body",
            )


class _Manifests:
    """The SHA-256 of each member, as the archive's own manifests list them."""

    def __init__(self) -> None:
        self.sha256: dict[str, str] = {}

    @staticmethod
    def candidate(name: str, size: int) -> bool:
        return _key(name).rsplit("/", 1)[-1] in MANIFEST_NAMES and size <= MANIFEST_MAX

    def take(self, name: str, data: bytes) -> bool:
        """Record the manifest ``data`` found at ``name``; False when it is not one of
        scandepot's (then it is a member like any other)."""
        key = _key(name)
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        listed = _sha256_lines(data) if key.endswith(".sha256") else _manifest_files(data)
        if listed is None:
            return False
        for member, sha256 in listed:
            self.sha256.setdefault(folder + member, sha256)
        return True

    def member(self, name: str, stream: IO[bytes], budget: _Budget, size: int) -> Member:
        return Member(name, stream, budget, size, sha256=self.sha256.get(_key(name)))


def _key(name: str) -> str:
    """A member name as manifests list it: '/' between parts, no leading './'."""
    key = name.replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def _sha256_lines(data: bytes) -> list[tuple[str, str]] | None:
    """``sha256sum`` lines, as export.manifest.sha256sums writes them."""
    try:
        lines = data.decode().splitlines()
    except UnicodeDecodeError:
        return None
    found = [_SHA256_LINE.fullmatch(line) for line in lines if line]
    if not found or not all(found):
        return None
    return [(m.group(2), m.group(1)) for m in found if m]


def _manifest_files(data: bytes) -> list[tuple[str, str]] | None:
    """The files of a manifest as export.manifest.build writes it."""
    try:
        doc: Any = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifest_version"), int):
        return None
    files = doc.get("files")
    if not isinstance(files, list):
        return None
    listed: list[tuple[str, str]] = []
    for entry in files:
        if not isinstance(entry, dict):
            return None
        name, sha256 = entry.get("name"), entry.get("sha256")
        if not isinstance(name, str) or not isinstance(sha256, str):
            return None
        if not _SHA256.fullmatch(sha256):
            return None
        listed.append((name, sha256))
    return listed


def _read_whole(stream: IO[bytes], budget: _Budget, name: str) -> bytes:
    try:
        data = stream.read(MANIFEST_MAX + 1)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(exc, name) from None
    budget.add(len(data))
    return data


def _manifest_or_member(
    manifests: _Manifests, name: str, stream: IO[bytes], budget: _Budget, size: int
) -> Member | None:
    """None when the member is one of scandepot's manifests (taken in, not imported)."""
    if not manifests.candidate(name, size):
        return manifests.member(name, stream, budget, size)
    data = _read_whole(stream, budget, name)
    if manifests.take(name, data):
        return None
    return Member(name, io.BytesIO(data), None, size)


def _damaged(exc: BaseException, name: str | None = None) -> Invalid:
    where = f" at '{name}'" if name else ""
    return Invalid(f"The archive is truncated or damaged{where}: {exc}", field="body")


def members(path: Path, fmt: Format, limits: Limits) -> Iterator[Member | str]:
    """Each regular file as a :class:`Member`; each system file as its name (a string),
    so that callers can say what they skipped. Folders are not files: they are passed
    over, as are scandepot's own manifests. Raises on the first reason to refuse the
    whole archive."""
    budget = _Budget(limits, path.stat().st_size)
    if fmt == Format.ZIP:
        yield from _zip_members(path, budget)
    else:
        yield from _tar_members(path, fmt, budget)


def _zip_members(path: Path, budget: _Budget) -> Iterator[Member | str]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise _damaged(exc) from None
    manifests = _Manifests()
    with archive:
        infos = archive.infolist()
        # Every name is known up front: judge them all before reading a byte.
        refused = [(i.filename, why) for i in infos if (why := _zip_refusal(i))]
        if refused:
            raise _refused(refused)
        for info in infos:
            budget.member()
            if info.is_dir():
                continue
            if system_file(info.filename):
                yield info.filename
                continue
            try:
                stream = archive.open(info)
            except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError) as exc:
                raise _damaged(exc, info.filename) from None
            with stream:
                member = _manifest_or_member(
                    manifests, info.filename, stream, budget, info.file_size
                )
                if member is not None:
                    yield member


_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _zip_refusal(info: zipfile.ZipInfo) -> str | None:
    why = unsafe_name(info.filename)
    if why:
        return why
    if info.flag_bits & 0x1:
        return "encrypted"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "a symbolic link"
    if info.compress_type not in _ZIP_METHODS:
        return f"compressed with an unsupported method ({info.compress_type})"
    return None


_TAR_MODES: dict[Format, Literal["r:", "r:gz", "r:bz2", "r:xz"]] = {
    Format.TAR: "r:",
    Format.TAR_GZ: "r:gz",
    Format.TAR_BZ2: "r:bz2",
    Format.TAR_XZ: "r:xz",
}


def _tar_members(path: Path, fmt: Format, budget: _Budget) -> Iterator[Member | str]:
    try:
        archive = tarfile.open(path, _TAR_MODES[fmt])  # noqa: SIM115 - closed below
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(exc) from None
    manifests = _Manifests()
    with archive:
        while True:
            try:
                info = archive.next()
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                raise _damaged(exc) from None
            if info is None:
                _check_end(archive)
                break
            budget.member()
            why = _tar_refusal(info)
            if why:
                # Read on to name every offender at once, without reading any data.
                refused = [(info.name, why)]
                refused += _remaining_refusals(archive)
                raise _refused(refused)
            if info.isdir():
                continue
            if system_file(info.name):
                yield info.name
                continue
            stream = archive.extractfile(info)
            assert stream is not None  # a regular file
            with stream:
                member = _manifest_or_member(manifests, info.name, stream, budget, info.size)
                if member is not None:
                    yield member


def _check_end(archive: tarfile.TarFile) -> None:
    """Refuse a tar without its end-of-archive marker, two 512-byte zero blocks (POSIX
    pax/ustar interchange format). ``tarfile`` reads the end of the data after a member
    as the end of the archive, so a tar cut at a member boundary (or inside a header)
    would pass for a shorter whole one."""
    fileobj = archive.fileobj
    assert fileobj is not None
    end = 2 * tarfile.BLOCKSIZE
    try:
        fileobj.seek(archive.offset)
        tail = fileobj.read(end)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(exc) from None
    if len(tail) < end or tail.strip(b"\0"):
        raise Invalid(
            "The archive is truncated or damaged: it ends without the two zero blocks "
            "that close a tar. Nothing was imported.",
            field="body",
        )


def _tar_refusal(info: tarfile.TarInfo) -> str | None:
    why = unsafe_name(info.name)
    if why:
        return why
    if info.issym():
        return "a symbolic link"
    if info.islnk():
        return "a hard link"
    if not (info.isreg() or info.isdir()):
        return "a device, FIFO or other special file"
    return None


def _remaining_refusals(archive: tarfile.TarFile) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        for info in archive:
            why = _tar_refusal(info)
            if why:
                found.append((info.name, why))
            if len(found) >= MAX_LISTED:
                break
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        pass  # the archive is refused already; the first offenders are enough
    return found


def _refused(found: list[tuple[str, str]]) -> Invalid:
    listed = found[:MAX_LISTED]
    first_name, first_why = listed[0]
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return Invalid(
        f"The archive cannot be taken: '{first_name}' is {first_why}{more}. Nothing was imported.",
        field="body",
        details=[{"name": name, "reason": why} for name, why in listed],
    )


def is_dicomdir(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).name.upper() == "DICOMDIR"
