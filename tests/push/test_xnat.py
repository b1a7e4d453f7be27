"""The XNAT sender against another scandepot behind a real uvicorn: batches land in one
archived session of the far project, through its XNAT import service, and the session's
file listing says what it holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from scandepot.catalog.archive import Session as ArchivedSession
from scandepot.catalog.archive import Subject
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.errors import Invalid
from scandepot.push.http_peer import HttpPeer
from scandepot.push.outgoing import xnat_label
from scandepot.push.sending import Unreachable
from scandepot.push.xnat import XnatSender, XnatTarget, zipped
from tests.conftest import PASSWORD, LiveServer
from tests.orthanc_peer import free_port
from tests.push.outgoing import study_batch


def sender(
    live_server: LiveServer, project: str, login: str = "owner", password: str = PASSWORD
) -> XnatSender:
    peer = HttpPeer(url=live_server.url, auth="basic", username=login, secret=password)
    return XnatSender(XnatTarget(peer, project))


def test_batches_land_in_one_archived_session(
    ctx: Context, live_server: LiveServer, make_project: Callable[..., str]
) -> None:
    project = make_project()
    study, series = Study(), Series()
    # One series in two batches: the second adds to the session the first made.
    instances = study_batch(5, study=study, series=series, subject="SUBJ01", session="SESS01")
    first, second = instances[:3], instances[3:]
    far = sender(live_server, project)
    try:
        far.check()
        [none] = far.held([study.StudyInstanceUID], subject="SUBJ01", session="SESS01")
        assert none.sop_uids == frozenset()
        assert all(s.stored for s in far.send(first))
        again = far.send(second)
        assert all(s.stored for s in again), again
        [held] = far.held([study.StudyInstanceUID], subject="SUBJ01", session="SESS01")
    finally:
        far.close()
    assert held.sop_uids == {o.sop_uid for o in first + second}
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(ArchivedSession)) == 1
        assert set(db.scalars(select(Subject.label))) == {"SUBJ01"}
        assert set(db.scalars(select(ArchivedSession.label))) == {"SESS01"}


def test_wrong_credentials_and_unknown_project(
    live_server: LiveServer, make_project: Callable[..., str]
) -> None:
    project = make_project()
    wrong = sender(live_server, project, password="not-the-password")
    try:
        with pytest.raises(Invalid, match="credentials were refused.*401"):
            wrong.check()
        with pytest.raises(Invalid, match="XNAT import .*credentials were refused.*401"):
            wrong.send(study_batch(1))
    finally:
        wrong.close()
    nowhere = sender(live_server, "NOSUCH")
    try:
        with pytest.raises(Invalid, match="NOSUCH"):
            nowhere.check()
    finally:
        nowhere.close()


def test_a_closed_port_is_unreachable() -> None:
    peer = HttpPeer(url=f"http://127.0.0.1:{free_port()}")
    far = XnatSender(XnatTarget(peer, "P1"))
    try:
        with pytest.raises(Unreachable, match="onnection refused"):
            far.check()
        with pytest.raises(Unreachable, match="onnection refused"):
            far.send(study_batch(1))
    finally:
        far.close()


def test_a_batch_is_one_zip_of_uid_named_files() -> None:
    import zipfile
    from io import BytesIO

    batch = study_batch(3)
    with zipfile.ZipFile(BytesIO(zipped(batch))) as archive:
        names = archive.namelist()
        assert names == [f"{o.sop_uid}.dcm" for o in batch]
        assert archive.read(names[0]) == batch[0].data


def test_far_labels_are_xnat_labels() -> None:
    """A de-identified Patient ID may hold what XNAT labels may not (a CTP script's
    "ANON/0042", spaces): the far subject gets a label XNAT and its URLs take."""
    assert xnat_label("ANON/0042 b") == "ANON_0042_b"
    assert xnat_label("3f1c-ab_9") == "3f1c-ab_9"
    assert xnat_label("  ") == "subject" and len(xnat_label("x" * 100)) == 64
