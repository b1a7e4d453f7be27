"""Each project's datalad-catalog pages: the project, and each of its visits that has a
deposit, as the INM-ICF utilities' ``catalogify_studyvisit_from_meta`` describes them
(the clone URL, the tarball's size, the number of DICOM files, the acquisition headers
found), made by datalad-catalog itself (``datalad catalog-create``, ``catalog-set``).

The pages are rebuilt whole from the deposits each time a visit's deposit changes (a
visit gone is gone from them), into a new folder that then takes the old one's place;
they are served under ``/datalad/{project}/catalog/`` to whoever may read the project.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Session
from scandepot.context import Context
from scandepot.datalad import metadata, representation
from scandepot.datalad.deposit import Runner, environment
from scandepot.errors import NotFound

FOLDER = "datalad"
NAMESPACE = uuid.UUID("5c6a7d43-3b1e-4f0e-9a37-2f3b9d0c1e23")  # catalog dataset IDs
FIRST_PAGE = "index.html"


def catalog_dir(ctx: Context, project: str) -> Path:
    return ctx.store.data_dir / FOLDER / "catalogs" / project


def page(ctx: Context, actor: Actor, project: str, path: str) -> Path:
    """The file ``path`` of the project's catalog (its first page for ``""``)."""
    with ctx.db.read() as db:
        projects.load(db, actor, project, Action.READ)
    root = catalog_dir(ctx, project)
    wanted = (root / (path or FIRST_PAGE)).resolve()
    if root.resolve() not in wanted.parents or not wanted.is_file():
        raise NotFound(f"No page '{path}' in the catalog of project '{project}'.", field="path")
    return wanted


def _sources() -> dict[str, Any]:
    return {
        "key_source_map": {},
        "sources": [
            {
                "source_name": "scandepot",
                "source_version": "1",
                "source_time": time.time(),
                "agent_name": "scandepot",
                "agent_email": "",
            }
        ],
    }


def _size(count: int) -> str:
    """As the utilities' format_bytes: 1024-based, two decimals."""
    if count == 0:
        return "0 Bytes"
    units = ["Bytes", "KB", "MB", "GB", "TB", "PB"]
    i = min(int(math.floor(math.log(count, 1024))), len(units) - 1)
    return f"{round(count / 1024**i, 2)} {units[i]}"


def visit_entry(
    project: str, visit: str, session: str, folder: Path, clone_url: str
) -> dict[str, Any]:
    tar = json.loads((folder / metadata.tarball_name(visit)).read_text())
    dicoms = json.loads((folder / metadata.dicoms_name(visit)).read_text())
    found = {
        key: sorted({str(d[key]) for d in dicoms if d.get(key) not in ("", None)})
        for key in metadata.DICOM_KEYS
    }
    return {
        "type": "dataset",
        "dataset_id": str(uuid.uuid5(NAMESPACE, visit)),
        "dataset_version": "latest",
        "name": visit,
        "description": f"DICOM data of visit {visit} (session {session}) of project "
        f"{project}. Clone it with DataLad from the URL below; see the DICOM tab for "
        "what was acquired.",
        "url": clone_url,
        "keywords": found["ProtocolName"] + found["Modality"],
        "additional_display": [{"name": "DICOM", "icon": "far fa-file-image", "content": found}],
        "top_display": [
            {"name": "TAR file size", "value": _size(int(tar["size"]))},
            {"name": "Nr of DICOMs", "value": len(dicoms)},
        ],
        "metadata_sources": _sources(),
    }


def project_entry(project: str, visits: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "dataset",
        "dataset_id": str(uuid.uuid5(NAMESPACE, f"project:{project}")),
        "dataset_version": "latest",
        "name": project,
        "description": f"The DICOM data of every visit of project {project}; each visit is "
        "in the Subdatasets tab.",
        "subdatasets": [
            {
                "dataset_id": v["dataset_id"],
                "dataset_version": v["dataset_version"],
                "dataset_path": v["name"],
            }
            for v in visits
        ],
        "metadata_sources": _sources(),
    }


def entries(ctx: Context, project_id: int, store_url: str) -> list[dict[str, Any]]:
    """The project's entry first, then one per visit with a deposit."""
    with ctx.db.read() as db:
        project = db.get(Project, project_id)
        if project is None:
            return []
        label = project.label
        rows = db.execute(
            select(Session.stable_id, Session.label)
            .where(Session.project_id == project_id)
            .order_by(Session.stable_id)
        ).all()
    visits = []
    for visit, session in rows:
        folder = ctx.store.data_dir / FOLDER / "visits" / visit
        if (folder / f"{visit}_{representation.REFS}").is_file():
            url = representation.annex_url(f"{store_url}/{label}/{visit}_")
            visits.append(visit_entry(label, visit, session, folder, url))
    return [project_entry(label, visits), *visits]


# datalad-catalog's first page loads Vue from a CDN (its own copy, shipped in assets/,
# commented out): the pages of a private archive load nothing from elsewhere, and work
# where the archive's users have no internet.
_CDN_VUE = '<script src="https://unpkg.com/vue@2.6.14/dist/vue.js"></script>'
_OWN_VUE = '<script src="assets/vue.2.6.14.min.js"></script>'


def _served_here(first_page: Path) -> None:
    text = first_page.read_text()
    if _CDN_VUE in text:
        first_page.write_text(text.replace(_CDN_VUE, _OWN_VUE))


def rebuild(ctx: Context, project_id: int, work: Path, *, store_url: str, run: Runner) -> Path:
    """Make the project's pages in ``work`` and put them in place; returns their folder."""
    made = entries(ctx, project_id, store_url)
    if not made:
        raise NotFound("The project was deleted.")
    listed = work / "catalog-entries.jsonl"
    listed.write_text("".join(json.dumps(e) + "\n" for e in made))
    pages = work / "catalog"
    datalad = str(Path(sys.executable).parent / "datalad")
    run([datalad, "catalog-create", "-c", str(pages), "-m", str(listed)], environment())
    home = made[0]
    run(
        [
            datalad, "catalog-set", "-c", str(pages),
            "-i", home["dataset_id"], "-v", home["dataset_version"], "home",
        ],
        environment(),
    )  # fmt: skip
    _served_here(pages / FIRST_PAGE)
    target = catalog_dir(ctx, home["name"])
    ctx.store.remove_tree(target)
    ctx.store.move_tree(pages, target)
    return target
