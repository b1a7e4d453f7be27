"""Instances on their way out, as a push hands them to a sender: synthetic MR instances of
one study, with the labels an XNAT destination files them under."""

from __future__ import annotations

from pydicom.dataset import Dataset

from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.push.sending import Outgoing


def outgoing(ds: Dataset, subject: str = "SUBJ01", session: str = "SESS01") -> Outgoing:
    return Outgoing(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        data=to_bytes(ds),
        subject=subject,
        session=session,
    )


def study_batch(
    count: int = 3, *, study: Study | None = None, series: Series | None = None, **labels: str
) -> list[Outgoing]:
    """``count`` instances of one series of ``study`` (a new one when not given)."""
    study = study or Study()
    series = series or Series()
    return [
        outgoing(mr_instance(study, series, n, rows=16, columns=16), **labels)
        for n in range(1, count + 1)
    ]
