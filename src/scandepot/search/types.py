"""Which XNAT data type a session or a scan is: a session the session type of its
modality (``xnat:mrSessionData``, ``xnat:ctSessionData``, ...), a scan the scan type of its
series' Modality (0008,0060). The listings name each object's type by these rules and a
search of a type finds the objects they give that type, so both ask here.
"""

from __future__ import annotations

# DICOM Modality (0008,0060) -> the prefix of XNAT's session and scan types.
_PREFIXES: dict[str, str] = {
    "MR": "mr",
    "CT": "ct",
    "PT": "pet",
    "US": "us",
    "CR": "cr",
    "DX": "dx",
    "MG": "mg",
    "XA": "xa",
    "RF": "rf",
    "NM": "nm",
    "IO": "io",
    "OP": "op",
    "OPT": "opt",
    "SM": "sm",
    "XC": "xc",
    "ES": "es",
    "GM": "gm",
    "ECG": "ecg",
    "EEG": "eeg",
    "MEG": "meg",
    "HD": "hd",
    "EPS": "eps",
    "SR": "sr",
}
# Series that accompany images rather than make a session of their own kind.
_ACCOMPANYING = frozenset({"SR", "SEG", "PR", "KO", "REG", "SC", "OT", "DOC", "RTSTRUCT"})
_RT = frozenset({"RTIMAGE", "RTDOSE", "RTPLAN", "RTSTRUCT", "RTRECORD"})
# Scan types beyond the session prefixes: series kinds XNAT gives a scan type of their own.
_SCAN_ONLY: dict[str, str] = {"SC": "sc", "SEG": "seg", "RTIMAGE": "rtImage"}

OTHER_SESSION = "xnat:otherDicomSessionData"
OTHER_SCAN = "xnat:otherDicomScanData"

SESSION_TYPES: tuple[str, ...] = (
    "xnat:mrSessionData",
    "xnat:petmrSessionData",
    *(f"xnat:{p}SessionData" for p in _PREFIXES.values() if p != "mr"),
    "xnat:rtSessionData",
    OTHER_SESSION,
)
SCAN_TYPES: tuple[str, ...] = (
    *(f"xnat:{p}ScanData" for p in _PREFIXES.values()),
    *(f"xnat:{p}ScanData" for p in _SCAN_ONLY.values()),
    OTHER_SCAN,
)


def modalities(value: str | None) -> list[str]:
    """A session's modality as the catalog keeps it ("MR", or "MR/PT" for several)."""
    if not value:
        return []
    return [m.strip().upper() for m in value.replace("\\", "/").split("/") if m.strip()]


def session_type(modality: str | None) -> str:
    """The session type of a session with this modality: PET with MR is PET/MR, PET with
    anything else PET (a PET/CT), else the first imaging modality; reports, segmentations
    and other companions only when nothing else is there."""
    found = modalities(modality)
    if "PT" in found:
        return "xnat:petmrSessionData" if "MR" in found else "xnat:petSessionData"
    imaging = [m for m in found if m not in _ACCOMPANYING] or found
    for m in imaging:
        if m in _PREFIXES:
            return f"xnat:{_PREFIXES[m]}SessionData"
        if m in _RT:
            return "xnat:rtSessionData"
    return OTHER_SESSION


def scan_type(modality: str | None, *, session_modality: str | None = None) -> str:
    """The scan type of a series with this Modality; a series without one takes its
    session's."""
    m = (modality or "").strip().upper()
    if not m:
        found = modalities(session_modality)
        m = found[0] if len(found) == 1 else ""
    if m in _PREFIXES:
        return f"xnat:{_PREFIXES[m]}ScanData"
    if m in _SCAN_ONLY:
        return f"xnat:{_SCAN_ONLY[m]}ScanData"
    return OTHER_SCAN
