"""The check after every de-identification (PS3.15 E.1): does anything still hold a value
the rules say must go? Filled in by the profile work; the interface is fixed here."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom import Dataset

from scandepot.errors import Invalid


@dataclass(frozen=True, slots=True)
class Finding:
    path: str  # where: "(0010,0010)" or "(0008,1110)[0]>(0010,0010)"
    keyword: str
    reason: str  # "holds the original Patient's Name", "private, not marked safe", ...


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings


class NotDeidentified(Invalid):
    """The verification found what must not be there; the operation fails."""

    code = "not_deidentified"

    def __init__(self, report: Report, *, source: str = "instance") -> None:
        shown = "; ".join(f"{f.path} {f.keyword}: {f.reason}" for f in report.findings[:5])
        more = len(report.findings) - 5
        super().__init__(
            f"{source} is not de-identified: {shown}" + (f" (and {more} more)" if more > 0 else ""),
            details=[
                {"path": f.path, "keyword": f.keyword, "reason": f.reason} for f in report.findings
            ],
        )
        self.report = report


@dataclass(frozen=True, slots=True)
class Identifiers:
    """What identified the instance before the script ran: the values searched for after."""

    values: frozenset[str] = frozenset()


def identifiers(ds: Dataset) -> Identifiers:
    """Taken before the script runs (cheap: a few attributes, no copy of the dataset)."""
    return Identifiers()


def check(before: Identifiers, ds: Dataset, kept: frozenset[int] = frozenset()) -> Report:
    """Findings in the de-identified ``ds``; ``kept`` are tags the script keeps on purpose."""
    return Report()
