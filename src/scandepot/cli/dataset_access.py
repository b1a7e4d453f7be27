"""``scandepot dataset-access``: a released version's validation, access requests and
downloads, through the server's API (docs/dataset-access.md).

A dataset is named by its site-wide ID (``SD_D00001``) or its name, a version by its
number. Exit codes: 0 done; 1 a download that did not match its manifest (removed);
2 refused by the server (credentials, access, a request already decided), with the
reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any

import typer

from scandepot.cli.remote import (
    CHUNK,
    TOKEN_HELP,
    URL_HELP,
    error_message,
    fail,
    remote_or_fail,
    request,
)

app = typer.Typer(
    help="A released dataset version: its validation, access requests (ask, list, approve, "
    "refuse, revoke) and downloads.",
    no_args_is_help=True,
)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
DatasetArg = typer.Argument(..., help="The dataset's site-wide ID (SD_D00001) or its name.")
VersionArg = typer.Argument(..., help="The version's number.", min=1)
RequestArg = typer.Argument(..., help="The access request's number.")
CommentOption = typer.Option("", "--comment", help="Told to the requester.")


def _base(dataset: str, version: int) -> str:
    return f"/api/v1/datasets/{dataset}/versions/{version}"


def _show(found: dict[str, Any]) -> None:
    decided = f", {found['decided_by']}: {found['decision_comment']}" if found["decided_by"] else ""
    typer.echo(
        f"{found['id']}\t{found['dataset']} v{found['version']}\t{found['user']}\t"
        f"{found['state']}{decided}\t{found['purpose']}"
    )


@app.command()
def validation(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    as_json: bool = typer.Option(False, "--json", help="The whole report, as JSON."),
    again: bool = typer.Option(
        False, "--again", help="Run it again (after its job stopped, or a fix); queued."
    ),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """The validation's outcome and each check's problems (owners and curators)."""
    path = f"{_base(dataset, version)}/validation"
    if again:
        found = request(url, token_file, "POST", path, 202).json()
    else:
        found = request(url, token_file, "GET", path, 200).json()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    report = found["report"]
    typer.echo(f"{found['dataset']} v{found['version']}: validation {found['validation']}")
    for name, check in (report.get("checks") or {}).items():
        typer.echo(
            f"  {name}: {check['outcome']}, {check['checked']} checked, "
            f"{check['problems']} problem(s)"
        )
        for item in check["items"]:
            where = next((v for k, v in item.items() if k != "reason"), "")
            typer.echo(f"    {where}: {item['reason']}")


@app.command("request")
def ask(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    purpose: str = typer.Option(..., "--purpose", help="What the data is for."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Ask for access to a published version."""
    path = f"{_base(dataset, version)}/access-requests"
    _show(request(url, token_file, "POST", path, 201, json={"purpose": purpose}).json())


@app.command("requests")
def list_requests(
    dataset: str | None = typer.Argument(None, help="A dataset (default: your own requests)."),
    version: int | None = typer.Argument(None, help="Its version.", min=1),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """A version's access requests (its owners see every one), or all of your own."""
    if dataset is None:
        path = "/api/v1/dataset-requests"
    elif version is None:
        fail("give the version's number after the dataset")
    else:
        path = f"{_base(dataset, version)}/access-requests"
    found = request(url, token_file, "GET", path, 200, params={"limit": 1000}).json()
    for item in found["items"]:
        _show(item)
    typer.echo(f"{found['total']} request(s)", err=True)


def _decide(
    what: str, dataset: str, version: int, number: int, comment: str, url: Any, token: Any
) -> None:
    path = f"{_base(dataset, version)}/access-requests/{number}/{what}"
    _show(request(url, token, "POST", path, 200, json={"comment": comment}).json())


@app.command()
def approve(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    number: int = RequestArg,
    comment: str = CommentOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Approve a pending request (the dataset's owners)."""
    _decide("approve", dataset, version, number, comment, url, token_file)


@app.command()
def refuse(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    number: int = RequestArg,
    comment: str = CommentOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Refuse a pending request (the dataset's owners)."""
    _decide("refuse", dataset, version, number, comment, url, token_file)


@app.command()
def revoke(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    number: int = RequestArg,
    comment: str = CommentOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Take an approval back (the dataset's owners)."""
    _decide("revoke", dataset, version, number, comment, url, token_file)


@app.command()
def download(
    dataset: str = DatasetArg,
    version: int = VersionArg,
    fmt: str = typer.Option("zip", "--format", help="zip, tar or tar.gz"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to save it (default: SD_D00001-v1.zip here)."
    ),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Download the release: the archive saved, then each file checked against the
    manifest.json it holds; a mismatch removes the archive (exit 1)."""
    if fmt not in ("zip", "tar", "tar.gz"):
        fail("--format is zip, tar or tar.gz")
    remote = remote_or_fail(url, token_file)
    path = f"{_base(dataset, version)}/download"
    with remote.client(timeout=600) as client:
        target = _save(client, path, fmt, output)
    problems = check_archive(target, fmt)
    if problems:
        target.unlink()
        for problem in problems[:20]:
            typer.echo(f"  {problem}", err=True)
        fail(f"{len(problems)} file(s) do not match the manifest; {target} removed", 1)
    typer.echo(f"{target}: every file matches the release's manifest")


def _save(client: Any, path: str, fmt: str, output: Path | None) -> Path:
    with client.stream("GET", path, params={"format": fmt}) as response:
        if response.status_code != 200:
            response.read()
            fail(error_message(response))
        disposition = response.headers.get("content-disposition", "")
        name = disposition.partition('filename="')[2].rstrip('"') or f"dataset.{fmt}"
        target = output or Path(Path(name).name)
        part = target.with_name(target.name + ".part")
        try:
            with open(part, "wb") as fh:
                for chunk in response.iter_bytes(CHUNK):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    if "content-length" in response.headers and part.stat().st_size != int(
        response.headers["content-length"]
    ):
        part.unlink()
        fail("the download was cut short; run again", 1)
    os.replace(part, target)
    return target


def _digest(fh: IO[bytes]) -> tuple[int, str]:
    hasher, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return size, hasher.hexdigest()


def check_archive(path: Path, fmt: str) -> list[str]:
    """Each member against the manifest.json the archive begins with: problems, if any."""
    found: dict[str, tuple[int, str]] = {}
    listed: dict[str, tuple[int, str]] = {}
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                listed = _listed(zf.read("manifest.json"))
                for info in zf.infolist()[2:]:
                    with zf.open(info) as fh:
                        found[info.filename] = _digest(fh)
        else:
            with tarfile.open(path, mode="r:*") as tf:
                for member in tf:
                    handle = tf.extractfile(member)
                    assert handle is not None
                    if member.name == "manifest.json":
                        listed = _listed(handle.read())
                    elif member.name != "manifest.sha256":
                        found[member.name] = _digest(handle)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, tarfile.TarError) as exc:
        return [f"the archive cannot be read whole: {exc}"]
    problems = [f"{n}: missing" for n in listed if n not in found]
    problems += [f"{n}: not in the manifest" for n in found if n not in listed]
    problems += [
        f"{n}: size or SHA-256 differs" for n in found if n in listed and found[n] != listed[n]
    ]
    return problems


def _listed(data: bytes) -> dict[str, tuple[int, str]]:
    manifest = json.loads(data)
    return {f["name"]: (int(f["size"]), str(f["sha256"])) for f in manifest["files"]}
