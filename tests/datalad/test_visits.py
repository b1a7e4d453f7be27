"""The visit tarball and its metadata, below HTTP: the same bytes every time, as the
INM-ICF archive builder lays them out, any range of them, and the metadata in the
utilities' format from the catalog."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile

from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.context import Context
from scandepot.datalad import metadata, tarball, visits
from scandepot.export.archives import Opened
from tests.datalad.conftest import Archived

LATER = 2**62  # a start time after every file's change: none is refused as changed


def catalogued(ctx: Context, visit: str) -> dict[str, tuple[int, str]]:
    """Each DICOM file of the visit's session, by its path, with its size and MD5."""
    with ctx.db.read() as db:
        rows = db.execute(
            select(File.path, File.size, File.md5)
            .join(Resource, File.resource_id == Resource.id)
            .join(Scan, Resource.scan_id == Scan.id)
            .join(Session, Scan.session_id == Session.id)
            .where(Session.stable_id == visit, Resource.label == "DICOM")
        ).all()
    return {path: (size, md5) for path, size, md5 in rows}


def whole(ctx: Context, found: Archived) -> bytes:
    tar = tarball.whole(visits.get(ctx, SYSTEM, found.project, found.visit), LATER)
    return b"".join(tar.chunks())


def test_the_tarball_is_the_same_bytes_each_time_with_fixed_names_times_and_owners(
    ctx: Context, visit: Archived
) -> None:
    first, again = whole(ctx, visit), whole(ctx, visit)
    assert first == again
    files = catalogued(ctx, visit.visit)
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and len(names) == len(files) == 4
        top = f"{visit.project}_{visit.visit}/"
        assert all(n.startswith(top) for n in names)
        assert {n.split("/")[1] for n in names} == {"1-T1w_MPRAGE", "2-T2w"}
        moment = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC).timestamp()
        for member in members:
            assert (member.uid, member.gid, member.mode, member.mtime) == (0, 0, 0o644, moment)
            data = tar.extractfile(member)
            assert data is not None
            body = data.read()
            size, md5 = files[member.name.rsplit("/", 1)[1]]
            assert (len(body), hashlib.md5(body).hexdigest()) == (size, md5)


def test_a_range_is_those_bytes_of_the_whole(ctx: Context, visit: Archived) -> None:
    found = visits.get(ctx, SYSTEM, visit.project, visit.visit)
    tar = tarball.whole(found, LATER)
    full = b"".join(tar.chunks())
    assert len(full) == tar.total
    first_file = 512  # after the first header
    for start, stop in [
        (0, 1),
        (0, tar.total),
        (first_file - 3, first_file + 5),  # across a header and its file's first bytes
        (first_file + 7, first_file + 9),  # inside a file
        (tar.total - 1030, tar.total),  # the end blocks
        (100, tar.total - 100),
    ]:
        part = tar.part(start, stop)
        assert part.length == stop - start
        assert b"".join(part.chunks()) == full[start:stop], (start, stop)
        assert _sent_as_files(part) == full[start:stop], (start, stop)


def _sent_as_files(part: tarball.VisitTar) -> bytes:
    """What a server that sends files itself sends: bytes, and slices of opened files."""
    import asyncio
    import concurrent.futures

    async def gather() -> bytes:
        out = []
        async for piece in part.parts():
            if isinstance(piece, Opened):
                out.append(os.pread(piece.file.fileno(), piece.size, piece.offset))
            else:
                out.append(piece)
        return b"".join(out)

    # In a thread of its own: a test process whose browser (a sync Playwright) is open
    # has an event loop running in its main thread, where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, gather()).result()


def test_the_metadata_are_the_utilities_format_from_the_catalog(
    ctx: Context, visit: Archived
) -> None:
    found = visits.get(ctx, SYSTEM, visit.project, visit.visit)
    tar = tarball.whole(found, LATER)
    md5 = tarball.md5(tar)
    assert md5 == hashlib.md5(b"".join(tar.chunks())).hexdigest()
    described = json.loads(metadata.to_bytes(metadata.tarball(tar, md5)))
    assert described == {
        "size": tar.total,
        "md5": md5,
        "dspath": f"icf/{visit.visit}_dicom.tar",
        "storepath": f"{visit.project}/{visit.visit}_dicom.tar",
    }
    dicoms = json.loads(metadata.to_bytes(metadata.dicoms(found)))
    files = catalogued(ctx, visit.visit)
    assert [d["path"] for d in dicoms] == [f.name for f in found.files]
    for entry in dicoms:
        assert list(entry) == ["path", "md5", "size", *metadata.DICOM_KEYS]
        assert (entry["size"], entry["md5"]) == files[entry["path"].rsplit("/", 1)[1]]
        number = entry["SeriesNumber"]
        assert entry["SeriesDescription"] == {1: "T1w MPRAGE", 2: "T2w"}[number]
        assert (entry["Modality"], entry["MRAcquisitionType"]) == ("MR", "3D")
        assert (entry["ProtocolName"], entry["PulseSequenceName"]) == (f"prot_{number}", "")


def test_a_file_that_is_not_dicom_is_in_the_tarball_but_not_the_metadata(
    ctx: Context, visit: Archived
) -> None:
    found = visits.get(ctx, SYSTEM, visit.project, visit.visit)
    one = found.files[0]
    stranger = visits.VisitFile(
        one.name + ".txt", 5, hashlib.md5(b"notes").hexdigest(), one.path.with_suffix(".txt"),
        1, "T1w", "MR",
    )  # fmt: skip
    stranger.path.write_bytes(b"notes")
    assert metadata.dicom(stranger) is None
    assert metadata.dicom(one) is not None
