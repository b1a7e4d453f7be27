"""DataLad itself as the peer: ``datalad`` and git-annex run as programs, with datalad-next's
remotes (installed beside this Python) on their PATH, and credentials as DataLad's
credential manager takes them from the environment (docs/datalad.md)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes

DATALAD = str(Path(sys.executable).parent / "datalad")


def datalad_env(credential: tuple[str, str, str] | None = None) -> dict[str, str]:
    """The environment of a researcher's shell; ``credential`` (user, secret, realm) as
    ``datalad credentials set`` would keep it, given here through environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALAD_CREDENTIAL_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = "Researcher"
        env[f"GIT_{who}_EMAIL"] = "researcher@example.org"
    if credential is not None:
        user, secret, realm = credential
        env["DATALAD_CREDENTIAL_SCANDEPOT_USER"] = user
        env["DATALAD_CREDENTIAL_SCANDEPOT_SECRET"] = secret
        env["DATALAD_CREDENTIAL_SCANDEPOT_REALM"] = realm
        env["DATALAD_CREDENTIAL_SCANDEPOT_TYPE"] = "user_password"
    return env


def datalad(
    *args: str, cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [DATALAD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"datalad {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def study_zip(study: Study, series: list[Series], per_series: int = 3) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for s in series:
            for number in range(1, per_series + 1):
                ds = mr_instance(study, s, number, rows=16, columns=16)
                ds.ProtocolName = s.SeriesDescription
                archive.writestr(f"{s.SeriesNumber}-{number}.dcm", to_bytes(ds))
    return out.getvalue()
