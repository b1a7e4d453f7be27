"""A visit's metadata, as the INM-ICF utilities' ``deposit_visit_metadata`` writes it.

``{visit}_metadata_tarball.json``: one object, the tarball's ``size`` and ``md5``, its
path in the dataset (``dspath``, ``icf/{visit}_dicom.tar``) and in the store
(``storepath``, ``{project}/{visit}_dicom.tar``).

``{visit}_metadata_dicoms.json``: an array, one object per DICOM file in the tarball:
``path`` (inside the tarball), ``md5``, ``size``, and six headers that describe the
acquisition, ``SeriesDescription``, ``SeriesNumber``, ``Modality``, ``MRAcquisitionType``,
``ProtocolName`` and ``PulseSequenceName`` (``""`` when absent). Sizes, checksums and the
series' attributes come from the catalog; the three headers the catalog does not keep
are read from each file's header (never its pixels). A file that is not DICOM stays in
the tarball but is left out here, as there.

Both are written with :func:`json.dumps` defaults, as the utilities' ``json.dump``.
"""

from __future__ import annotations

import json
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from scandepot.datalad.tarball import VisitTar
from scandepot.datalad.visits import Visit, VisitFile

# deposit_visit_metadata's dicom_metadata_keys, in its order.
DICOM_KEYS = (
    "SeriesDescription",  # (0008,103E)
    "SeriesNumber",  # (0020,0011)
    "Modality",  # (0008,0060)
    "MRAcquisitionType",  # (0018,0023)
    "ProtocolName",  # (0018,1030)
    "PulseSequenceName",  # (0018,9005)
)
FROM_FILES = ("MRAcquisitionType", "ProtocolName", "PulseSequenceName")
DATASET_FOLDER = "icf"  # where the tarball sits in a visit's dataset, as the utilities put it


def tarball_name(visit: str) -> str:
    return f"{visit}_metadata_tarball.json"


def dicoms_name(visit: str) -> str:
    return f"{visit}_metadata_dicoms.json"


def tarball(tar: VisitTar, md5: str) -> dict[str, Any]:
    visit = tar.visit
    return {
        "size": tar.total,
        "md5": md5,
        "dspath": f"{DATASET_FOLDER}/{visit.tar_name}",
        "storepath": f"{visit.project}/{visit.tar_name}",
    }


def _value(value: Any) -> Any:
    if isinstance(value, MultiValue):
        return [str(v) for v in value]
    return "" if value is None else str(value)


def _headers(file: VisitFile) -> dict[str, Any] | None:
    """The headers the catalog does not keep; None when the file is not DICOM."""
    try:
        with dcmread(file.path, stop_before_pixels=True, specific_tags=list(FROM_FILES)) as ds:
            return {key: _value(ds.get(key, "")) for key in FROM_FILES}
    except InvalidDicomError:
        return None


def dicom(file: VisitFile) -> dict[str, Any] | None:
    headers = _headers(file)
    if headers is None:
        return None
    catalogued: dict[str, Any] = {
        "SeriesDescription": file.SeriesDescription or "",
        "SeriesNumber": "" if file.SeriesNumber is None else file.SeriesNumber,
        "Modality": file.Modality or "",
    }
    found = {**catalogued, **headers}
    return {
        "path": file.name,
        "md5": file.md5,
        "size": file.size,
        **{key: found[key] for key in DICOM_KEYS},
    }


def dicoms(visit: Visit) -> list[dict[str, Any]]:
    return [entry for f in visit.files if (entry := dicom(f)) is not None]


def to_bytes(document: Any) -> bytes:
    return json.dumps(document).encode()
