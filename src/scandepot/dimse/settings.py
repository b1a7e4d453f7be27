"""What a DICOM receiver is told: its AE titles, address, limits and processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from scandepot.context import Context


@dataclass
class DimseSettings:
    ae_title: str
    host: str
    port: int
    allowed_calling: frozenset[str] = frozenset()
    ae_projects: dict[str, str] = field(default_factory=dict)
    max_pdu: int = 262_144
    max_associations: int = 16
    timeout_s: float = 60.0
    processes: int = 1  # receiving processes on the port, this one included
    reuse_port: bool = False
    unmapped_peers: str = "public"  # what an AE title that is no DICOM node's may query
    find_limit: int = 10_000  # most matches a C-FIND answers; 0: no limit

    @classmethod
    def from_context(cls, ctx: Context) -> DimseSettings:
        s = ctx.settings
        return cls(
            ae_title=s.ae_title,
            host=s.dicom_host,
            port=s.dicom_port,
            allowed_calling=frozenset(a.strip() for a in s.dicom_allowed_aes),
            ae_projects=dict(s.ae_projects),
            max_pdu=s.dicom_max_pdu,
            max_associations=s.dicom_max_associations,
            timeout_s=s.dicom_timeout_s,
            processes=s.dicom_processes,
            reuse_port=s.dicom_reuse_port,
            unmapped_peers=s.dicom_unmapped_peers,
            find_limit=s.dicom_find_limit,
        )

    @property
    def called_titles(self) -> set[str]:
        return {self.ae_title.strip(), *(k.strip() for k in self.ae_projects)}
