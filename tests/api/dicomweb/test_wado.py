"""WADO-RS and WADO-URI against a real server, with dicomweb-client as the peer: real
Siemens data (heudiconv's), pydicom's compressed test files and synthetic series; and the
bad inputs."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.http.responses import ZEROCOPY
from tests.conftest import PASSWORD, LiveServer
from tests.retrieve.archived import SIEMENS_MULTIFRAME, SIEMENS_SERIES, archive, pydicom_file

pytestmark = pytest.mark.interop

DICOM = 'multipart/related; type="application/dicom"'
JPEG_FILE = "SC_rgb_jpeg_dcmtk.dcm"  # JPEG Baseline, YBR_FULL
RLE_FILE = "MR_small_RLE.dcm"  # RLE Lossless, MONOCHROME2 16-bit
J2K_FILE = "JPEG2000.dcm"  # JPEG 2000


@dataclass
class World:
    url: str
    project: str
    synthetic: Study
    files: dict[str, Path]  # name -> source file

    def uids(self, name: str) -> tuple[str, str, str]:
        ds = pydicom.dcmread(self.files[name], stop_before_pixels=True)
        return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


@pytest.fixture
def world(
    ctx: Context, make_project: Callable[..., str], live_server: LiveServer
) -> Iterator[World]:
    project = make_project("private", "W")
    synthetic = Study(PatientID="SYN")
    series = Series(SeriesNumber=7)
    files = {
        "jpeg": pydicom_file(JPEG_FILE),
        "rle": pydicom_file(RLE_FILE),
        "j2k": pydicom_file(J2K_FILE),
        "multiframe": SIEMENS_MULTIFRAME,
        **{f"siemens{i}": p for i, p in enumerate(SIEMENS_SERIES)},
    }
    made = [mr_instance(synthetic, series, n, rows=16, columns=16) for n in (2, 1, 3)]
    made[2].compress(RLELossless)  # a series stored in two transfer syntaxes
    archive(ctx, project, [*made, *files.values()])
    yield World(live_server.url, project, synthetic, files)


def client(world: World, login: str = "member", *, site: bool = False) -> DICOMwebClient:
    session = requests.Session()
    session.auth = (login, PASSWORD)
    root = "/dicomweb" if site else f"/dicomweb/projects/{world.project}"
    return DICOMwebClient(url=world.url + root, session=session)


def test_series_of_real_siemens_data_comes_back_byte_for_byte(world: World, users: Any) -> None:
    study, series, _ = world.uids("siemens0")
    got = client(world).retrieve_series(study, series)
    sent = {pydicom.dcmread(p).SOPInstanceUID: p.read_bytes() for p in SIEMENS_SERIES}
    assert [ds.InstanceNumber for ds in got] == [1, 2, 3]
    for ds in got:
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
        assert ds.SOPInstanceUID in sent
    # The wire bytes themselves: the stored files, with the length announced up front.
    r = httpx.get(
        f"{world.url}/dicomweb/projects/W/studies/{study}/series/{series}",
        auth=("member", PASSWORD),
        headers={"accept": 'multipart/related; type="application/dicom"'},
    )
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    for data in sent.values():
        assert data in r.content


def test_study_and_instance_and_site_wide(world: World, users: Any) -> None:
    study = world.synthetic.StudyInstanceUID
    got = client(world).retrieve_study(study)
    assert [ds.InstanceNumber for ds in got] == [1, 2, 3]
    one = client(world, site=True).retrieve_instance(
        study, got[1].SeriesInstanceUID, got[1].SOPInstanceUID
    )
    assert one.SOPInstanceUID == got[1].SOPInstanceUID
    assert np.array_equal(one.pixel_array, got[1].pixel_array)


def test_transcoding_as_asked(world: World, users: Any) -> None:
    dw = client(world)
    uids = world.uids("rle")
    stored = pydicom.dcmread(world.files["rle"])
    native = dw.retrieve_instance(
        *uids, media_types=(("application/dicom", ExplicitVRLittleEndian),)
    )
    assert native.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(native.pixel_array, stored.pixel_array)
    as_stored = dw.retrieve_instance(*uids, media_types=(("application/dicom", "*"),))
    assert as_stored.file_meta.TransferSyntaxUID == RLELossless
    synthetic = dw.retrieve_study(world.synthetic.StudyInstanceUID)[0]
    rle = dw.retrieve_instance(
        synthetic.StudyInstanceUID,
        synthetic.SeriesInstanceUID,
        synthetic.SOPInstanceUID,
        media_types=(("application/dicom", RLELossless),),
    )
    assert rle.file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(rle.pixel_array, synthetic.pixel_array)


def test_what_cannot_be_made_is_406(world: World, users: Any) -> None:
    base = f"{world.url}/dicomweb/projects/W/studies"
    study, series, instance = world.uids("jpeg")
    url = f"{base}/{study}/series/{series}/instances/{instance}"
    auth = ("member", PASSWORD)
    for wanted in (
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80',
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5',
        "application/json",
        'multipart/related; type="application/dicom+xml"',
    ):
        r = httpx.get(url, auth=auth, headers={"accept": wanted})
        assert r.status_code == 406, wanted
        assert r.json()["error"]["code"] == "not_acceptable"
    r = httpx.get(url + "/rendered", auth=auth, headers={"accept": "image/gif"})
    assert r.status_code == 406
    r = httpx.get(url + "/rendered", auth=auth, params={"accept": "image/png"})
    assert r.headers["content-type"] == "image/png"  # the query parameter, for links
    r = httpx.get(url + "/metadata", auth=auth, headers={"accept": "application/dicom+xml"})
    assert r.status_code == 406
    r = httpx.get(url + "/frames/1", auth=auth, headers={"accept": "image/jp2"})
    assert r.status_code == 406  # a JPEG frame is not made JPEG 2000


def test_series_metadata_with_bulk_data_that_resolves(world: World, users: Any) -> None:
    dw = client(world)
    study, series, _ = world.uids("siemens0")
    found = dw.retrieve_series_metadata(study, series)
    assert len(found) == 3
    assert found[0]["00080060"]["Value"] == ["MR"]  # Modality
    assert [f["00200013"]["Value"] for f in found] == [[1], [2], [3]]  # Instance Number
    pixel = found[0]["7FE00010"]
    assert "InlineBinary" not in pixel
    assert found[0]["00083002"]["Value"] == ["1.2.840.10008.1.2"]
    # BulkDataURIs are absolute, made of the request's Host header; dicomweb-client sends
    # its host without the port, so the URI's path is taken to the server's address.
    uri = urlsplit(pixel["BulkDataURI"])
    assert uri.scheme == "http" and uri.hostname == "127.0.0.1"
    assert uri.path.startswith(f"/dicomweb/projects/W/studies/{study}/series/{series}/")
    (value,) = dw.retrieve_bulkdata(world.url + uri.path)
    stored = pydicom.dcmread(SIEMENS_SERIES[0])
    assert value == stored.PixelData
    csa = [v for v in found[0].values() if "BulkDataURI" in v and v is not pixel]
    assert csa, "Siemens' private binary headers go by reference too"
    assert dw.retrieve_bulkdata(world.url + urlsplit(csa[0]["BulkDataURI"]).path)[0]
    r = httpx.get(
        f"{world.url}/dicomweb/studies/{study}/series/{series}/metadata", auth=("member", PASSWORD)
    )
    site = r.json()[0]["7FE00010"]["BulkDataURI"]  # the root asked, with its port
    assert site.startswith(f"{world.url}/dicomweb/studies/{study}/")
    assert httpx.get(site, auth=("member", PASSWORD)).status_code == 200
    # Metadata of the study holds every series; of one instance, that instance.
    assert len(dw.retrieve_study_metadata(world.synthetic.StudyInstanceUID)) == 3
    _, _, instance = world.uids("siemens1")
    one = dw.retrieve_instance_metadata(study, series, instance)
    assert one["00080018"]["Value"] == [instance]


def test_frames_decoded_or_as_stored(world: World, users: Any) -> None:
    dw = client(world)
    rle = pydicom.dcmread(world.files["rle"])
    octets = ("application/octet-stream",)
    (frame,) = dw.retrieve_instance_frames(
        *world.uids("rle"), frame_numbers=[1], media_types=octets
    )
    assert frame == rle.pixel_array.astype("<u2").tobytes()  # decoded, little endian
    (frame,) = dw.retrieve_instance_frames(*world.uids("rle"), frame_numbers=[1])  # */*
    assert frame == pydicom.encaps.get_frame(rle.PixelData, 0, number_of_frames=1)
    jpeg = pydicom.dcmread(world.files["jpeg"])
    (stored,) = dw.retrieve_instance_frames(
        *world.uids("jpeg"), frame_numbers=[1], media_types=("image/jpeg",)
    )
    assert stored == pydicom.encaps.get_frame(jpeg.PixelData, 0, number_of_frames=1)
    assert Image.open(io.BytesIO(stored)).size == (100, 100)
    # OHIF's Accept: octet-stream, or the server's choice; the choice is as stored.
    ohif = (("application/octet-stream", "*"),)
    (chosen,) = dw.retrieve_instance_frames(
        *world.uids("jpeg"), frame_numbers=[1], media_types=ohif
    )
    assert chosen == stored
    multi = pydicom.dcmread(SIEMENS_MULTIFRAME)
    size = len(multi.PixelData) // 3
    frames = dw.retrieve_instance_frames(*world.uids("multiframe"), frame_numbers=[3, 1])
    assert frames == [multi.PixelData[2 * size :], multi.PixelData[:size]]


def test_rendered_and_thumbnails(world: World, users: Any) -> None:
    dw = client(world)
    for name in ("rle", "jpeg", "j2k", "siemens0", "multiframe"):
        data = dw.retrieve_instance_rendered(*world.uids(name), media_types=("image/jpeg",))
        picture = Image.open(io.BytesIO(data))
        assert picture.format == "JPEG" and np.asarray(picture).std() > 0, name
    study, series, instance = world.uids("rle")
    base = f"{world.url}/dicomweb/projects/W/studies/{study}"
    auth = ("member", PASSWORD)
    url = f"{base}/series/{series}/instances/{instance}/rendered"
    png = {"accept": "image/png"}
    r = httpx.get(url, params={"window": "600,1,linear"}, auth=auth, headers=png)
    picture = Image.open(io.BytesIO(r.content))
    assert r.headers["content-type"] == "image/png" and picture.size == (64, 64)
    assert set(np.unique(np.asarray(picture))) == {0, 255}  # a window of width 1: a threshold
    r = httpx.get(url, params={"viewport": "32,16", "quality": "50"}, auth=auth)
    assert Image.open(io.BytesIO(r.content)).size == (16, 16)  # fitted, aspect kept
    # An enhanced MR frame: its window is in its functional groups (Frame VOI LUT).
    mf_study, mf_series, mf_instance = world.uids("multiframe")
    url = (
        f"{world.url}/dicomweb/projects/W/studies/{mf_study}/series/{mf_series}"
        f"/instances/{mf_instance}"
    )
    default = httpx.get(url + "/frames/2/rendered", auth=auth, headers=png).content
    window = {"window": "1090,1736,linear"}  # frame 2's own
    same = httpx.get(url + "/frames/2/rendered", params=window, auth=auth, headers=png).content
    other = {"window": "500,100,linear"}
    differs = httpx.get(url + "/frames/2/rendered", params=other, auth=auth, headers=png).content
    assert default == same != differs
    for level in (base, f"{base}/series/{series}"):  # one picture standing for each
        r = httpx.get(level + "/rendered", auth=auth, params={"viewport": "64,64"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    for level in (base, f"{base}/series/{series}", f"{base}/series/{series}/instances/{instance}"):
        r = httpx.get(level + "/thumbnail", auth=auth)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(r.content)).size) <= 128


def test_wado_uri(world: World, users: Any) -> None:
    study, series, instance = world.uids("rle")
    params = {"requestType": "WADO", "studyUID": study, "seriesUID": series, "objectUID": instance}
    auth = ("member", PASSWORD)
    r = httpx.get(
        f"{world.url}/wado", params={**params, "contentType": "application/dicom"}, auth=auth
    )
    assert r.headers["content-type"] == "application/dicom"
    assert r.content == world.files["rle"].read_bytes()
    r = httpx.get(
        f"{world.url}/wado",
        params={
            **params,
            "contentType": "application/dicom",
            "transferSyntax": ExplicitVRLittleEndian,
        },
        auth=auth,
    )
    assert (
        pydicom.dcmread(io.BytesIO(r.content)).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    )
    r = httpx.get(f"{world.url}/wado", params={**params, "project": "W"}, auth=auth)
    assert r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).format == "JPEG"
    bad = {
        "requestType": {**params, "requestType": "WADOX"},
        "objectUID": {k: v for k, v in params.items() if k != "objectUID"},
        "seriesUID": {**params, "seriesUID": "1.2.abc"},
        "frameNumber": {**params, "frameNumber": "0"},
        "region": {**params, "region": "0,0,1,1"},
    }
    for field, query in bad.items():
        r = httpx.get(f"{world.url}/wado", params=query, auth=auth)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, field
    r = httpx.get(f"{world.url}/wado", params={**params, "contentType": "text/html"}, auth=auth)
    assert r.status_code == 406
    r = httpx.get(f"{world.url}/wado", params=params, auth=("outsider", PASSWORD))
    assert r.status_code == 404


def test_bad_inputs(world: World, users: Any) -> None:
    study, series, instance = world.uids("multiframe")
    root = f"{world.url}/dicomweb/projects/W"
    inst = f"{root}/studies/{study}/series/{series}/instances/{instance}"
    auth = ("member", PASSWORD)
    cases = {
        f"{root}/studies/1.2.x": (400, "study"),
        f"{root}/studies/{study}/series/1.2.3;drop/metadata": (400, "series"),
        f"{root}/studies/{study}/series/{series}/instances/x": (400, "instance"),
        f"{root}/studies/1.2.3.4": (404, "study"),
        f"{root}/studies/{study}/series/1.2.3.4/metadata": (404, "series"),
        f"{inst}/frames/0": (400, "frames"),
        f"{inst}/frames/1,a": (400, "frames"),
        f"{inst}/frames/4": (404, "frames"),
        f"{inst}/frames/2/rendered": (200, None),
        f"{inst}/frames/9/rendered": (404, "frame"),
        f"{inst}/rendered?window=1,0,linear": (400, "window"),
        f"{inst}/rendered?quality=0": (400, "quality"),
        f"{inst}/rendered?viewport=0,10": (400, "viewport"),
        f"{inst}/bulkdata/zz": (400, "tag"),
        f"{inst}/bulkdata/00100010": (404, "tag"),
    }
    for url, (status, field) in cases.items():
        r = httpx.get(url, auth=auth)
        assert r.status_code == status, (url, r.text)
        if field:
            assert r.json()["error"]["field"] == field, url
    # Whoever may not read the project learns nothing at the site-wide root: 404 as missing.
    for login in ("outsider",):
        r = httpx.get(f"{world.url}/dicomweb/studies/{study}", auth=(login, PASSWORD))
        assert r.status_code == 404
    r = httpx.get(f"{world.url}/dicomweb/studies/{study}")
    assert r.status_code == 404


def test_stored_instances_go_out_as_zero_copy_sends(world: World, app: Any, users: Any) -> None:
    """Behind `scandepot serve`'s server each stored instance is one zero-copy send (made
    with sendfile(2)); the same body through Python is byte for byte the same."""
    counts: list[int] = []

    async def noted(scope: Any, receive: Any, send: Any) -> None:
        async def note(message: dict[str, Any]) -> None:
            if message["type"] == ZEROCOPY:
                counts.append(message["count"])
            await send(message)

        await app(scope, receive, note)

    study, series, _ = world.uids("siemens0")
    path = f"/dicomweb/projects/W/studies/{study}/series/{series}"
    auth = ("member", PASSWORD)
    explicit = {"accept": f"{DICOM}; transfer-syntax={ExplicitVRLittleEndian}"}
    with LiveServer(noted) as server:
        r = httpx.get(server.url + path, auth=auth)
        # Two stored as asked, one transcoded: chunked, the stored ones still from the file.
        session = requests.Session()
        session.auth = auth
        mixed = DICOMwebClient(url=server.url + "/dicomweb", session=session)
        got = mixed.retrieve_study(
            world.synthetic.StudyInstanceUID,
            media_types=(("application/dicom", ExplicitVRLittleEndian),),
        )
        chunked = httpx.get(
            f"{server.url}/dicomweb/studies/{world.synthetic.StudyInstanceUID}",
            auth=auth,
            headers=explicit,
        )
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    sizes = sorted(p.stat().st_size for p in SIEMENS_SERIES)
    assert sorted(counts[:3]) == sizes
    assert [ds.file_meta.TransferSyntaxUID for ds in got] == [ExplicitVRLittleEndian] * 3
    assert "content-length" not in chunked.headers and len(counts) == 3 + 2 + 2
    assert chunked.content.count(b"transfer-syntax=1.2.840.10008.1.2.1\r\n") == 3
    with TestClient(app) as through_python:
        again = through_python.get(path, auth=auth)
    boundary = r.headers["content-type"].split("boundary=")[1]
    other = again.headers["content-type"].split("boundary=")[1]
    assert again.content.replace(other.encode(), boundary.encode()) == r.content


def test_search_results_retrieve_urls_resolve(world: World, users: Any) -> None:
    """The Retrieve URL (0008,1190) a search gives is a retrieval that answers."""
    dw = client(world)
    (found,) = dw.search_for_series(search_filters={"SeriesInstanceUID": world.uids("siemens0")[1]})
    uri = urlsplit(found["00081190"]["Value"][0])
    r = httpx.get(world.url + uri.path, auth=("member", PASSWORD))
    assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/related")
    for path in SIEMENS_SERIES:
        assert path.read_bytes() in r.content
