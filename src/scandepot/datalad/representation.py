"""A visit's dataset representation, ``{visit}_XDLRA--refs`` and
``{visit}_XDLRA--repo-export``, made by DataLad and git-annex themselves, in the steps of
the INM-ICF utilities' ``deposit_visit_dataset``:

1. a dataset (new, or a clone of the visit's last deposit, so that a session that
   changed gives a new version on the same history, which ``datalad update`` brings in);
2. the ``uncurl`` special remote, and the tarball added by ``addurls`` under
   ``icf/{visit}_dicom.tar`` with its store URL and its MD5 key, marked present there;
3. the ``archivist`` special remote (datalad-next), and each DICOM file added by
   ``addurls`` with a ``dl+archive:{tarball key}#path=...&size=...`` URL, its MD5 key and
   its acquisition headers as git-annex metadata, marked present there;
4. a push of the dataset's branch and its git-annex branch (no content: there is none) to
   a ``datalad-annex::`` remote in a folder, whose helper (DataLad's
   ``git-remote-datalad-annex``) writes the two files.

Run as a program of its own (``python -m scandepot.datalad.representation``), so that
DataLad's process-wide state and git's environment stay out of the server, and so that a
job can stop it; :mod:`scandepot.datalad.deposit` starts it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from scandepot.datalad.metadata import DICOM_KEYS

REFS = "XDLRA--refs"
EXPORT = "XDLRA--repo-export"


def annex_url(prefix: str) -> str:
    """The ``datalad-annex::`` URL of a deposit whose files begin with ``prefix`` (a URL
    ending in ``{visit}_``), as ``datalad clone`` takes it."""
    return (
        "datalad-annex::?type=external&externaltype=uncurl"
        f"&url={prefix}{{{{annex_key}}}}&encryption=none"
    )


def _special_remote(repo: Any, name: str) -> str:
    """The UUID of the special remote ``name``, set up first when the dataset lacks it.

    Read from git's configuration (``remote.NAME.annex-uuid``, which ``initremote`` and
    the autoenable of a clone write), not ``git annex info NAME``, which starts the
    remote's program only to answer it."""
    repo.config.reload(force=True)
    uuid = repo.config.get(f"remote.{name}.annex-uuid")
    if not uuid:
        repo.call_annex(
            [
                "initremote",
                name,
                "type=external",
                f"externaltype={name}",
                "encryption=none",
                "autoenable=true",
            ]
        )
        repo.config.reload(force=True)
        uuid = repo.config.get(f"remote.{name}.annex-uuid")
    if not uuid:
        raise RuntimeError(f"git-annex did not set up the special remote {name!r}")
    return str(uuid)


def _set_present(path: Path, keys: list[str], uuid: str) -> None:
    """``git annex setpresentkey`` for every key, in one batch rather than one process
    per key."""
    lines = "".join(f"{key} {uuid} 1\n" for key in keys)
    subprocess.run(
        ["git", "annex", "setpresentkey", "--batch"],
        cwd=path,
        input=lines,
        text=True,
        check=True,
        capture_output=True,
    )


def _fields(row: dict[str, Any]) -> dict[str, list[str]]:
    """The git-annex metadata ``addurls`` gives a file (every column, as
    ``deposit_visit_dataset`` leaves them), with the acquisition headers under their
    lower-case names too, as it asks; empty values are left out, as addurls leaves them."""
    fields = {k: str(v) for k, v in sorted(row.items()) if str(v) != ""}
    fields.update({k.lower(): str(row[k]) for k in DICOM_KEYS if str(row.get(k, "")) != ""})
    return {k: [v] for k, v in fields.items()}


def _set_metadata(path: Path, rows: list[tuple[str, dict[str, list[str]]]]) -> None:
    """``git annex metadata`` of every file's key in one batch process (``addurls --meta``
    starts one git-annex per file: minutes for a visit of thousands)."""
    lines = "".join(json.dumps({"key": key, "fields": fields}) + "\n" for key, fields in rows)
    done = subprocess.run(
        ["git", "annex", "metadata", "--batch", "--json"],
        cwd=path,
        input=lines,
        text=True,
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git annex metadata failed: {done.stderr[-2000:]}")
    failed = [line for line in done.stdout.splitlines() if '"success":false' in line]
    if failed:
        raise RuntimeError(f"git annex metadata failed: {failed[:3]}")


def _start(work: Path, previous: str | None) -> Any:
    import datalad.api as dl

    if previous is None:
        return dl.create(work, result_renderer="disabled")
    ds = dl.clone(source=annex_url(previous), path=work, result_renderer="disabled")
    # The visit as it is now replaces what the last version held.
    tracked = [p for p in ds.repo.call_git_items_(["ls-files"]) if p and not p.startswith(".")]
    if tracked:
        ds.repo.call_git(["rm", "-q", "-r", "--", *sorted({p.split("/")[0] for p in tracked})])
    return ds


def build(
    work: Path,
    tarball: dict[str, Any],
    dicoms: list[dict[str, Any]],
    *,
    store_url: str,
    out_prefix: Path,
    previous: str | None,
    message: str,
) -> None:
    ds = _start(work, previous)
    repo = ds.repo
    uncurl = _special_remote(repo, "uncurl")
    record = {**tarball, "url": f"{store_url}/{tarball['storepath']}"}
    added = ds.addurls(
        [record],
        "{url}",
        "{dspath}",
        key="et:MD5-s{size}--{md5}",
        save=False,
        result_renderer="disabled",
    )
    tar_key = _key(added, tarball["dspath"])
    _set_present(work, [tar_key], uncurl)
    archivist = _special_remote(repo, "archivist")
    fields = {row["path"]: _fields(row) for row in dicoms}  # before addurls adds its own keys
    added = ds.addurls(
        dicoms,
        f"dl+archive:{tar_key}#path={{path}}&size={{size}}",
        "{path}",
        key="et:MD5-s{size}--{md5}",
        exclude_autometa="*",  # set below, in one batch
        save=False,
        result_renderer="disabled",
    )
    by_path = {
        str(Path(r["path"]).relative_to(work)): r["annexkey"]
        for r in added
        if r.get("action") == "fromkey"
    }
    keys = sorted(set(by_path.values()))
    _set_present(work, keys, archivist)
    _set_metadata(work, [(by_path[path], found) for path, found in fields.items()])
    ds.save(message=message, result_renderer="disabled")
    repo.call_git(["remote", "add", "deposit", annex_url(f"file://{out_prefix}")])
    # The git-annex branch must hold all that was recorded above before it is pushed:
    # ``git annex merge`` commits git-annex's journal explicitly, and starts no special
    # remote's program (``whereis`` would start them all).
    repo.call_annex(["merge"])
    # DataLad's git-remote-datalad-annex writes the two files; one git push of the branch
    # and the git-annex branch is what ``datalad push --data nothing`` amounts to here
    # (there is no content to copy, and the deposit is new), without its dry-run push and
    # its fetch of the deposit's git-annex branch, each a run of that helper (seconds).
    branch = repo.get_active_branch()
    repo.call_git(["push", "deposit", f"refs/heads/{branch}", "refs/heads/git-annex"])


def _key(results: list[dict[str, Any]], dspath: str) -> str:
    found = [
        r["annexkey"]
        for r in results
        if r.get("action") == "fromkey" and str(r.get("path", "")).endswith(dspath.split("/")[-1])
    ]
    if len(found) != 1:
        raise RuntimeError(f"addurls did not register the tarball: {results!r}")
    return str(found[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scandepot.datalad.representation")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--tarball", type=Path, required=True)
    parser.add_argument("--dicoms", type=Path, required=True)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--out-prefix", type=Path, required=True)
    parser.add_argument("--previous", help="file:// prefix of the last deposit")
    parser.add_argument("--message", default="Visit as archived")
    args = parser.parse_args(argv)
    build(
        args.work,
        json.loads(args.tarball.read_text()),
        json.loads(args.dicoms.read_text()),
        store_url=args.store_url.rstrip("/"),
        out_prefix=args.out_prefix,
        previous=args.previous,
        message=args.message,
    )


if __name__ == "__main__":
    main()
