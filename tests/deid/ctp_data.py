"""Helpers for the CTP script tests: scripts written in the test, real DICOM files, and
CTP's documented MD5 formula written out here (not imported from the code under test)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from scandepot.deid import ctp
from scandepot.deid.model import Keys, Run
from tests.pipelines.dicom import heudiconv_data, pydicom_file


def usmd5(text: str) -> str:
    """CTP DigestUtil.getUSMD5: MD5 of the UTF-8 bytes as an unsigned integer, base 10."""
    return str(int.from_bytes(hashlib.md5(text.encode("utf-8")).digest(), "big"))


def xml(
    rules: Mapping[str, str] | None = None,
    *,
    params: Mapping[str, str] | None = None,
    keep: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
) -> str:
    """A DicomAnonymizer script: rules {"ggggeeee": "rule text"}."""
    lines = ["<script>"]
    for name, value in (params or {}).items():
        lines.append(f"  <p t={quoteattr(name)}>{escape(value)}</p>")
    for tag, rule in (rules or {}).items():
        lines.append(f'  <e en="T" t="{tag}" n="x">{escape(rule)}</e>')
    lines += [f'  <k en="T" t="{group}">keep</k>' for group in keep]
    lines += [f'  <r en="T" t="{kind}">remove</r>' for kind in remove]
    lines.append("</script>")
    return "\n".join(lines)


def run(
    text: str,
    ds: Dataset,
    *,
    params: Mapping[str, str] | None = None,
    lookup: Mapping[tuple[str, str], str] | None = None,
    pixel_text: str = "",
) -> Dataset:
    """``ds`` after the script, changed in place and returned."""
    script = ctp.load(text, pixel_text)
    script.apply(ds, Run(Keys(b"project secret", dict(lookup or {})), dict(params or {})))
    return ds


def ct() -> Dataset:
    return pydicom.dcmread(pydicom_file("CT_small.dcm"))


def mr() -> Dataset:
    return pydicom.dcmread(pydicom_file("MR_small.dcm"))


def siemens_mr() -> Dataset:
    """A Siemens scout with private groups 0019, 0029 (CSA) and 0051."""
    return pydicom.dcmread(heudiconv_data() / "01-anat-scout" / "0001.dcm")


def put(ds: Dataset, tag: int, vr: str, value: object) -> None:
    """Set a value pydicom would warn about (the test wants it as a sender wrote it)."""
    ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
