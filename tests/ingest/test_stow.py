"""STOW-RS below the network: a multipart body fed to the service in pieces, each part
filed as C-STORE files it; every kind of bad part failing alone; on both catalogs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc
import warnings
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.archive import Project
from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import UID_ROOT, Series, Study, mr_instance, to_bytes
from scandepot.errors import Forbidden as Refused
from scandepot.errors import NotFound, Unauthorized, Unsupported
from scandepot.ingest import stow
from scandepot.ingest import stow_response as res
from scandepot.ingest.multipart import Malformed
from scandepot.ingest.stow_checks import NotAcceptable
from scandepot.prearchive import worker
from tests.pipelines.dicom import heudiconv_data

BOUNDARY = "st0w-b0undary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary="{BOUNDARY}"'
ROOT = "http://testserver/dicomweb/projects/{project}"


def multipart(parts: Iterable[bytes | tuple[str | None, bytes]], *, end: bool = True) -> bytes:
    """A body as dicomweb-client writes one; a (type, bytes) part names its own type
    (None: no Content-Type header)."""
    out = bytearray()
    for part in parts:
        kind, data = part if isinstance(part, tuple) else ("application/dicom", part)
        out += f"\r\n--{BOUNDARY}\r\n".encode()
        if kind is not None:
            out += f"Content-Type: {kind}\r\n".encode()
        out += b"\r\n" + data
    if end:
        out += f"\r\n--{BOUNDARY}--".encode()
    return bytes(out)


def instance(study: Study | None = None, number: int = 1, **attrs: Any) -> Dataset:
    ds = mr_instance(study or Study(), Series(SeriesInstanceUID=SERIES), number, rows=8, columns=8)
    for name, value in attrs.items():
        if value is None:
            delattr(ds, name)
        else:
            setattr(ds, name, value)
    return ds


SERIES = generate_uid(UID_ROOT)


def actor(ctx: Context, login: str) -> Actor:
    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
    assert user is not None
    return actor_for(user)


def run(
    ctx: Context,
    who: Actor,
    body: bytes,
    *,
    project: str | None,
    study: str | None = None,
    chunk: int = 65536,
    content_type: str = CONTENT_TYPE,
    accept: str | None = None,
) -> res.Answer:
    root = ROOT.format(project=project) if project else "http://testserver/dicomweb"
    request = stow.Request(project, study, content_type, accept, root)
    store = stow.open_store(ctx, who, request)
    try:
        for start in range(0, len(body), chunk):
            store.feed(body[start : start + chunk])
        return store.finish()
    finally:
        store.close()


def referenced(answer: res.Answer) -> list[dict[str, Any]]:
    return list(answer.body.get("00081199", {}).get("Value", []))


def failed(answer: res.Answer) -> list[dict[str, Any]]:
    return list(answer.body.get("00081198", {}).get("Value", []))


def value(item: dict[str, Any], tag: str) -> Any:
    values = item[tag].get("Value")
    return values[0] if values else None


def catalogued(ctx: Context) -> list[tuple[str, str, str]]:
    with ctx.db.read() as db:
        rows = db.execute(
            select(Instance.SOPInstanceUID, Instance.spool_path, StagedSession.project_key)
            .join(StagedSession, StagedSession.id == Instance.staged_id)
            .order_by(Instance.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def leftovers(ctx: Context) -> list[Path]:
    """Temporary files left in the store: a request must leave none."""
    return list(ctx.store.tmp.iterdir())


@pytest.fixture
def project(make_project: Callable[..., str]) -> str:
    return make_project("private")


@pytest.fixture
def member(ctx: Context, users: dict[str, User]) -> Actor:
    return actor(ctx, "member")


def test_instances_are_filed_as_c_store_files_them(
    ctx: Context, project: str, member: Actor
) -> None:
    study = Study()
    sent = [instance(study, n) for n in (1, 2, 3)]
    answer = run(ctx, member, multipart(to_bytes(ds) for ds in sent), project=project)
    assert answer.status == 200
    items = referenced(answer)
    assert [value(i, "00081155") for i in items] == [ds.SOPInstanceUID for ds in sent]
    assert {value(i, "00081150") for i in items} == {"1.2.840.10008.5.1.4.1.1.4"}
    # In the prearchive until archived: not retrievable yet, so no Retrieve URL (Type 2).
    assert all(i["00081190"] == {"vr": "UR"} for i in items)
    assert "00081198" not in answer.body
    rows = catalogued(ctx)
    assert [r[0] for r in rows] == [ds.SOPInstanceUID for ds in sent]
    with ctx.db.read() as db:
        [staged] = db.scalars(select(StagedSession)).all()
    assert (staged.project_key, staged.source, staged.StudyInstanceUID) == (
        project,
        "stow:member",
        study.StudyInstanceUID,
    )
    for _sop, spool_path, _key in rows:
        assert (ctx.store.data_dir / spool_path).read_bytes() in {to_bytes(ds) for ds in sent}
    assert leftovers(ctx) == []


def siemens_files() -> list[Path]:
    data = heudiconv_data()
    return [
        data / "axasc35.dcm",
        data / "phantom.dcm",
        *sorted((data / "b0dwiForFmap").glob("*.dcm")),
        *sorted((data / "01-fmap_acq-3mm").glob("*.dcm")),
    ]


def test_real_siemens_instances_are_stored_byte_for_byte(
    ctx: Context, project: str, member: Actor
) -> None:
    files = siemens_files()
    assert len(files) >= 5
    answer = run(ctx, member, multipart(p.read_bytes() for p in files), project=project)
    assert answer.status == 200, answer.body
    assert len(referenced(answer)) == len(files)
    stored = {sop: ctx.store.data_dir / path for sop, path, _ in catalogued(ctx)}
    assert len(stored) == len(files)
    assert sorted(p.read_bytes() for p in stored.values()) == sorted(p.read_bytes() for p in files)


@pytest.mark.parametrize("chunk", [1, 7, 4093, 1 << 20])
def test_pieces_of_any_size(ctx: Context, project: str, member: Actor, chunk: int) -> None:
    """Boundaries split across pieces, a part's headers byte by byte: the same answer."""
    sent = [instance(number=n) for n in (1, 2)]
    body = multipart(to_bytes(ds) for ds in sent)
    answer = run(ctx, member, body, project=project, chunk=chunk)
    assert answer.status == 200
    assert len(catalogued(ctx)) == 2


def test_preamble_epilogue_and_parts_without_a_type(
    ctx: Context, project: str, member: Actor
) -> None:
    body = (
        b"A preamble, which RFC 2046 says to ignore.\r\n"
        + multipart([(None, to_bytes(instance(number=1))), to_bytes(instance(number=2))])
        + b"\r\nAn epilogue, ignored too.\r\n"
    )
    answer = run(ctx, member, body, project=project)
    assert answer.status == 200
    assert len(catalogued(ctx)) == 2


def test_each_bad_part_fails_alone(ctx: Context, project: str, member: Actor) -> None:
    study = Study()
    good = [instance(study, n) for n in (1, 2)]
    other_study = instance(Study(), 3)
    no_sop_instance = instance(study, 4)
    del no_sop_instance.SOPInstanceUID
    no_sop_class = instance(study, 5)
    del no_sop_class.SOPClassUID
    del no_sop_class.file_meta.MediaStorageSOPClassUID
    no_sop_class.preamble = bytes(128)
    without_class = BytesIO()
    dcmwrite(without_class, no_sop_class, enforce_file_format=False)  # what to_bytes refuses
    with warnings.catch_warnings():  # pydicom says what the receiver must say too
        warnings.simplefilter("ignore")
        bad_uid = to_bytes(instance(study, 6, SOPInstanceUID="1.2.3.abc"))
    dicomdir = instance(study, 7, SOPClassUID="1.2.840.10008.1.3.10")
    json_part = ("application/dicom+json", b'{"00100010": {"vr": "PN"}}')
    body = multipart(
        [
            to_bytes(good[0]),
            b"this is not DICOM at all",
            to_bytes(other_study),
            to_bytes(no_sop_instance),
            without_class.getvalue(),
            bad_uid,
            to_bytes(dicomdir),
            json_part,
            to_bytes(good[1]),
        ]
    )
    with warnings.catch_warnings():  # pydicom warns of "1.2.3.abc": logged, as in the server
        warnings.simplefilter("ignore", UserWarning)
        answer = run(ctx, member, body, project=project, study=study.StudyInstanceUID)
    assert answer.status == 202
    assert [value(i, "00081155") for i in referenced(answer)] == [ds.SOPInstanceUID for ds in good]
    reasons = [(value(i, "00081155"), value(i, "00081197")) for i in failed(answer)]
    assert reasons == [
        (None, res.CANNOT_UNDERSTAND),
        (other_study.SOPInstanceUID, res.STUDY_MISMATCH),
        (None, res.DOES_NOT_MATCH),
        (no_sop_class.SOPInstanceUID, res.DOES_NOT_MATCH),
        (None, res.DOES_NOT_MATCH),  # "1.2.3.abc" is not echoed back as a UID
        (dicomdir.SOPInstanceUID, res.SOP_CLASS_NOT_SUPPORTED),
        (None, res.CANNOT_UNDERSTAND),
    ]
    words = [value(i, "00091001") for i in failed(answer)]
    assert all(words) and all(value(i, "00090010") == "scandepot" for i in failed(answer))
    assert "SOPInstanceUID" in words[2] and "SOPClassUID" in words[3]
    assert "not a UID" in words[4] and "application/dicom+json" in words[6]
    assert value(failed(answer)[2], "00081150") == no_sop_instance.SOPClassUID
    assert [r[0] for r in catalogued(ctx)] == [ds.SOPInstanceUID for ds in good]
    assert leftovers(ctx) == []


def test_all_failed_is_409_and_stores_nothing(ctx: Context, project: str, member: Actor) -> None:
    body = multipart([to_bytes(instance(number=1)), b"garbage"])
    answer = run(ctx, member, body, project=project, study=generate_uid(UID_ROOT))
    assert answer.status == 409
    assert "00081199" not in answer.body
    assert [value(i, "00081197") for i in failed(answer)] == [
        res.STUDY_MISMATCH,
        res.CANNOT_UNDERSTAND,
    ]
    assert catalogued(ctx) == []
    assert leftovers(ctx) == []


def test_the_same_bytes_again_are_stored_once(ctx: Context, project: str, member: Actor) -> None:
    ds = instance()
    body = multipart([to_bytes(ds), to_bytes(ds)])
    first = run(ctx, member, body, project=project)
    again = run(ctx, member, body, project=project)
    assert (first.status, again.status) == (200, 200)
    assert len(referenced(first)) == len(referenced(again)) == 2
    assert [r[0] for r in catalogued(ctx)] == [ds.SOPInstanceUID]


def test_other_bytes_under_a_held_uid_are_kept_aside_with_a_warning(
    ctx: Context, project: str, member: Actor
) -> None:
    ds = instance()
    run(ctx, member, multipart([to_bytes(ds)]), project=project)
    ds.PatientComments = "changed"
    answer = run(ctx, member, multipart([to_bytes(ds)]), project=project)
    assert answer.status == 202
    [item] = referenced(answer)
    assert value(item, "00081196") == res.KEPT_ASIDE
    assert "kept beside it" in value(item, "00091001")
    assert [r[0] for r in catalogued(ctx)] == [ds.SOPInstanceUID] * 2
    with ctx.db.read() as db:
        [staged] = db.scalars(select(StagedSession)).all()
    assert any("again" in p for p in staged.problems)


def test_a_part_over_the_limit_fails_alone(ctx: Context, project: str, member: Actor) -> None:
    small, large = instance(number=1), mr_instance(Study(), Series(), 2, rows=64, columns=64)
    limit = len(to_bytes(small)) + 100
    assert len(to_bytes(large)) > limit
    limited = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"stow_max_instance_bytes": limit})
    )
    body = multipart([to_bytes(large), to_bytes(small)])
    answer = run(limited, member, body, project=project)
    assert answer.status == 202
    [item] = failed(answer)
    assert value(item, "00081197") == res.TOO_LARGE
    assert value(item, "00081155") == large.SOPInstanceUID  # named from its first bytes
    assert [r[0] for r in catalogued(ctx)] == [small.SOPInstanceUID]
    assert leftovers(ctx) == []


def test_a_truncated_body_keeps_the_whole_parts_only(
    ctx: Context, project: str, member: Actor
) -> None:
    whole, cut = instance(number=1), instance(number=2)
    body = multipart([to_bytes(whole), to_bytes(cut)], end=False)[:-300]
    with pytest.raises(Malformed) as refused:
        run(ctx, member, body, project=project)
    assert refused.value.status == 400
    assert "truncated" in refused.value.message
    assert refused.value.details == [{"name": whole.SOPInstanceUID, "reason": "stored"}]
    assert [r[0] for r in catalogued(ctx)] == [whole.SOPInstanceUID]
    assert leftovers(ctx) == []


def test_a_body_cut_inside_its_first_part_stores_nothing(
    ctx: Context, project: str, member: Actor
) -> None:
    body = multipart([to_bytes(instance())], end=False)[:-10]
    with pytest.raises(Malformed, match="Nothing was stored"):
        run(ctx, member, body, project=project)
    assert catalogued(ctx) == []
    assert leftovers(ctx) == []


@pytest.mark.parametrize(
    ("content_type", "error", "words"),
    [
        ("multipart/related; type=application/dicom", Malformed, "boundary"),
        ("application/dicom", Unsupported, "multipart/related"),
        (None, Unsupported, "no Content-Type"),
        (
            f"multipart/related; type=application/dicom+json; boundary={BOUNDARY}",
            Unsupported,
            "bulk data",
        ),
        (
            f"multipart/related; type=application/dicom+xml; boundary={BOUNDARY}",
            Unsupported,
            "not supported",
        ),
    ],
)
def test_a_content_type_that_cannot_be_stored_is_refused_before_the_body(
    ctx: Context,
    project: str,
    member: Actor,
    content_type: str | None,
    error: type[Exception],
    words: str,
) -> None:
    request = stow.Request(project, None, content_type, None, "http://x/dicomweb")
    with pytest.raises(error, match=words):
        stow.open_store(ctx, member, request)
    assert leftovers(ctx) == []


def test_no_parts_and_garbage_are_bad_requests(ctx: Context, project: str, member: Actor) -> None:
    with pytest.raises(Malformed, match="no parts"):
        run(ctx, member, f"--{BOUNDARY}--\r\n".encode(), project=project)
    with pytest.raises(Malformed, match="no multipart boundary|holds no multipart"):
        run(ctx, member, b"just some bytes", project=project)
    bad_header = f"--{BOUNDARY}\r\n".encode() + b"X" * 10_000 + b"\r\n\r\n"
    with pytest.raises(Malformed):
        run(ctx, member, bad_header, project=project)


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (None, True),
        ("application/dicom+json", True),
        ("application/json", True),
        ("*/*", True),
        ("application/dicom+xml, application/dicom+json;q=0.5", True),
        ("application/dicom+xml", False),
        ("multipart/related; type=application/dicom+xml", False),
        ("application/dicom+json;q=0", False),
    ],
)
def test_accept(ctx: Context, project: str, member: Actor, accept: str | None, ok: bool) -> None:
    request = stow.Request(project, None, CONTENT_TYPE, accept, "http://x/dicomweb")
    if ok:
        stow.open_store(ctx, member, request).close()
    else:
        with pytest.raises(NotAcceptable, match="application/dicom\\+json"):
            stow.open_store(ctx, member, request)


def test_a_study_in_the_path_must_be_a_uid(ctx: Context, project: str, member: Actor) -> None:
    request = stow.Request(project, "1.2.x", CONTENT_TYPE, None, "http://x/dicomweb")
    with pytest.raises(Malformed, match="not a UID"):
        stow.open_store(ctx, member, request)


@pytest.mark.parametrize(
    ("login", "error"),
    [("anonymous", Unauthorized), ("outsider", NotFound), ("collaborator", Refused)],
)
def test_who_may_not_upload_is_refused_before_the_body(
    ctx: Context, project: str, users: dict[str, User], login: str, error: type[Exception]
) -> None:
    who = ANONYMOUS if login == "anonymous" else actor(ctx, login)
    request = stow.Request(project, None, CONTENT_TYPE, None, "http://x/dicomweb")
    with pytest.raises(error):
        stow.open_store(ctx, who, request)


# -- the site-wide root ----------------------------------------------------------------------


def routed(to: str | None, number: int = 1) -> Dataset:
    study = Study(StudyDescription=f"xnat://{to}/S1/E1" if to else "Research^Brain")
    return instance(study, number)


def test_site_root_files_each_instance_where_it_routes(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    mine, theirs = make_project("private"), make_project("private")
    with ctx.db.write() as db:  # the member of the first only
        from scandepot.catalog.access import ProjectRole

        member_id = db.scalar(select(User.id).where(User.login == "member"))
        theirs_id = db.scalar(select(Project.id).where(Project.label == theirs))
        db.execute(
            ProjectRole.__table__.delete().where(
                ProjectRole.user_id == member_id, ProjectRole.project_id == theirs_id
            )
        )
    sent = [routed(mine.lower()), routed(theirs, 2), routed("NO_SUCH", 3), routed(None, 4)]
    answer = run(ctx, actor(ctx, "member"), multipart(map(to_bytes, sent)), project=None)
    assert answer.status == 202
    assert [value(i, "00081155") for i in referenced(answer)] == [sent[0].SOPInstanceUID]
    refusals = failed(answer)
    assert [value(i, "00081197") for i in refusals] == [res.NOT_AUTHORIZED] * 3
    # A project that exists and one that does not are refused in the same words.
    assert len({value(i, "00091001") for i in refusals}) == 1
    assert [(r[0], r[2]) for r in catalogued(ctx)] == [(sent[0].SOPInstanceUID, mine)]


def test_site_root_for_a_site_admin_keeps_unrouted_instances_unassigned(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    label = make_project("private")
    sent = [routed(label), routed(None, 2), routed("NO_SUCH", 3)]
    answer = run(ctx, actor(ctx, "admin"), multipart(map(to_bytes, sent)), project=None)
    assert answer.status == 200
    keys = sorted(r[2] for r in catalogued(ctx))
    assert keys == sorted([label, UNASSIGNED, UNASSIGNED])


def test_site_root_asks_anonymous_callers_to_sign_in(ctx: Context) -> None:
    request = stow.Request(None, None, CONTENT_TYPE, None, "http://x/dicomweb")
    with pytest.raises(Unauthorized):
        stow.open_store(ctx, ANONYMOUS, request)


# -- after the answer ------------------------------------------------------------------------


def test_archived_by_the_project_rules_then_retrievable(
    ctx: Context, make_project: Callable[..., str], member: Actor
) -> None:
    label = make_project("private", upload_destination="archive")
    ds = instance()
    run(ctx, member, multipart([to_bytes(ds)]), project=label)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert worker.run_once(ctx, clock=lambda: later) == 1
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(StagedSession)) == 0
    again = run(ctx, member, multipart([to_bytes(ds)]), project=label)
    assert again.status == 200
    [item] = referenced(again)
    root = ROOT.format(project=label)
    assert value(item, "00081190") == (
        f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    assert value(again.body, "00081190") == f"{root}/studies/{ds.StudyInstanceUID}"


# -- memory ----------------------------------------------------------------------------------


def big_instance(pixel_bytes: int) -> Iterator[bytes]:
    """A Part 10 MR instance with ``pixel_bytes`` of pixel data, made as it is sent."""
    ds = instance()
    del ds.PixelData
    side = int((pixel_bytes // 2) ** 0.5)
    ds.Rows = ds.Columns = side
    head = to_bytes(ds)
    length = side * side * 2
    yield head + b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little")
    piece = bytes(1 << 20)
    sent = 0
    while sent < length:
        n = min(len(piece), length - sent)
        yield piece[:n]
        sent += n


def test_a_part_larger_than_any_buffer_streams_through_bounded_memory(
    ctx: Context, project: str, member: Actor
) -> None:
    request = stow.Request(project, None, CONTENT_TYPE, None, ROOT.format(project=project))
    store = stow.open_store(ctx, member, request)
    tracemalloc.start()
    try:
        store.feed(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        size = 0
        for piece in big_instance(200 * 1024 * 1024):
            store.feed(piece)
            size += len(piece)
        store.feed(f"\r\n--{BOUNDARY}--\r\n".encode())
        answer = store.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert answer.status == 200
    assert size > 200_000_000
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while streaming {size}"
    [(_, path, _)] = catalogued(ctx)
    assert (ctx.store.data_dir / path).stat().st_size == size


def test_each_request_is_audited_per_project(ctx: Context, project: str, member: Actor) -> None:
    sent = [instance(number=n) for n in (1, 2)]
    run(ctx, member, multipart(map(to_bytes, [*sent, sent[0]])), project=project)
    with ctx.db.read() as db:
        [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "upload.imported")).all()
    assert (event.actor_login, event.project) == ("member", project)
    assert event.detail == {"via": "stow", "files": 3, "added": 2}


def test_boundaries_longer_than_rfc_2046_allows_as_orthanc_sends_them(
    ctx: Context, project: str, member: Actor
) -> None:
    boundary = "7ca7fea5-0023-4474-ad81-637ec08eb6ac-7ca7fea5-0023-4474-ad81-637ec08eb6ac"
    assert len(boundary) == 73
    body = multipart([to_bytes(instance())]).replace(BOUNDARY.encode(), boundary.encode())
    answer = run(
        ctx, member, body, project=project, content_type=CONTENT_TYPE.replace(BOUNDARY, boundary)
    )
    assert answer.status == 200
    too_long = f"multipart/related; type=application/dicom; boundary={'b' * 201}"
    request = stow.Request(project, None, too_long, None, "http://x/dicomweb")
    with pytest.raises(Malformed, match="boundary"):
        stow.open_store(ctx, member, request)


def test_a_full_disk_fails_the_parts_it_cannot_hold(
    ctx: Context, project: str, member: Actor
) -> None:
    from tests.api.test_out_of_space import fill_disk

    sent = [instance(number=n) for n in (1, 2, 3)]
    fill_disk(ctx, room=2)  # one write per small part
    answer = run(ctx, member, multipart(map(to_bytes, sent)), project=project)
    assert answer.status == 202
    assert [value(i, "00081155") for i in referenced(answer)] == [
        ds.SOPInstanceUID for ds in sent[:2]
    ]
    [item] = failed(answer)
    assert value(item, "00081197") == res.OUT_OF_RESOURCES
    assert "out of storage space" in value(item, "00091001")
    assert sorted(r[0] for r in catalogued(ctx)) == sorted(ds.SOPInstanceUID for ds in sent[:2])
    assert leftovers(ctx) == []
