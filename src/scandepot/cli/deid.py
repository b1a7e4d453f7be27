"""``scandepot deid --script FILE IN... OUT``: DICOM files and folders de-identified
offline into an output folder, with the engine the archive runs (docs/deid.md).

Exit codes: 0 every file written and verified; 1 one or more failed (each listed with
its reason, the others written); 2 nothing done (a script or lookup table that does not
load, an input that does not exist).

The commands that manage a project's scripts and pseudonym table on a server are in
:mod:`scandepot.cli.deid_remote` (``scandepot deid-script``, ``scandepot pseudonym``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer

OK, FAILED, REFUSED = 0, 1, 2
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
NO_KEY = (
    "note: no --key-file: UIDs and dates are pseudonymised with a key made for this run, "
    "and another run gives other values."
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(REFUSED)


def read_text(path: Path, what: str, limit: int = MAX_SCRIPT_BYTES) -> str:
    """A UTF-8 file given on the command line; exit 2 naming it when it cannot be read."""
    try:
        if path.stat().st_size > limit:
            _fail(f"the {what} {path} is over {limit // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the {what} {path}: {exc}")


def kind_of(text: str, given: str | None) -> str:
    """The kind asked for, or the one the text shows: XML is CTP's, JSON the profile's."""
    if given:
        return given
    return "ctp" if text.lstrip().startswith("<") else "profile"


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--param takes NAME=VALUE, not '{pair}'")
        out[key] = value
    return out


KindOption = typer.Option(
    None,
    "--kind",
    help="ctp (a CTP DicomAnonymizer script) or profile (PS3.15 Annex E options, JSON); "
    "default: ctp for XML, profile otherwise.",
)
LookupOption = typer.Option(
    None,
    "--lookup",
    help="A pseudonym table: a CSV of kind,original,pseudonym, or CTP's lookup table "
    "(a .properties file).",
)
KeyFileOption = typer.Option(
    None,
    "--key-file",
    help="A file whose content keys UID remapping and date shifts: the same key gives "
    "the same pseudonyms in every run; none: a key made for this run alone.",
)


def deid(
    inputs: list[Path] = typer.Argument(
        ...,
        metavar="IN",
        help="DICOM files and folders to de-identify (folders with their tree).",
        show_default=False,
    ),
    out: Path = typer.Argument(
        ..., metavar="OUT", help="The output folder (made if missing).", show_default=False
    ),
    script: Path = typer.Option(..., "--script", help="The script file.", show_default=False),
    kind: str | None = KindOption,
    pixel_script: Path | None = typer.Option(
        None, "--pixel-script", help="A CTP DicomPixelAnonymizer script run after the script."
    ),
    lookup: Path | None = LookupOption,
    key_file: Path | None = KeyFileOption,
    param: list[str] = typer.Option(
        [], "--param", help="A value the script's @param reads, as NAME=VALUE (repeatable)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace output files there."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """De-identify DICOM files and folders into OUT, offline: each input lands under OUT by
    its own name (as cp -r puts it); a file that fails is listed with its reason and the
    others go on. Exit 1 when any failed."""
    from scandepot.deid import offline, scripts
    from scandepot.deid.model import Run
    from scandepot.errors import ScandepotError

    text = read_text(script, "script")
    pixel = read_text(pixel_script, "pixel script") if pixel_script else ""
    table = read_text(lookup, "lookup table", 16 * 1024 * 1024) if lookup else None
    secret = read_text(key_file, "key file").strip().encode() if key_file else None
    try:
        loaded = scripts.load(kind_of(text, kind), text, pixel)
        run = Run(offline.keys(secret, table, source=str(lookup)), _params(param))
        summary = offline.deidentify(
            loaded, run, inputs, out, overwrite=overwrite, progress=None if as_json else _shown
        )
    except ScandepotError as exc:
        where = f"{script}: " if exc.field == "script" else ""
        _fail(where + exc.message)
    if key_file is None and not as_json:
        typer.echo(NO_KEY, err=True)
    _summary(summary, as_json)


def _shown(source: Path, failed: object) -> None:
    if failed is not None:
        typer.echo(f"failed: {source}: {getattr(failed, 'reason', '')}", err=True)


def _summary(summary: object, as_json: bool) -> NoReturn:
    from scandepot.deid.offline import Summary

    assert isinstance(summary, Summary)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": summary.ok,
                    "written": [str(p) for p in summary.done],
                    "failed": [{"file": str(f.source), "reason": f.reason} for f in summary.failed],
                },
                indent=2,
            )
        )
    else:
        typer.echo(f"{len(summary.done)} file(s) written, {len(summary.failed)} failed.")
    raise typer.Exit(OK if summary.ok else FAILED)
