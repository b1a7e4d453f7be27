"""``scandepot datalad deposit``: a visit in the INM-ICF store layout, in a folder of this
computer, for a store served by another web server (or read as ``file://``).

``{store}/{project}/{visit}_dicom.tar`` and the four files of the deposit beside it, the
same bytes the server serves. A folder that holds a deposit of the visit already gets a
new version of it, on the same history (``datalad update`` brings it in).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.datalad import deposit, tarball, visits
from scandepot.datalad.deposit import Made
from scandepot.errors import Invalid


def _hashed(chunks: Iterator[bytes], update: Callable[[bytes], None]) -> Iterator[bytes]:
    for chunk in chunks:
        update(chunk)
        yield chunk


def deposit_visit(
    ctx: Context,
    actor: Actor,
    store_dir: Path,
    project: str,
    visit: str,
    *,
    store_url: str | None = None,
) -> Made:
    """Write the visit's tarball and deposit under ``store_dir/project``; the dataset
    registers ``store_url`` (default: ``file://`` of ``store_dir``) as the store's base."""
    if not store_dir.is_dir():
        raise Invalid(f"--store-dir: no folder at {store_dir}.", field="store_dir")
    started_ns = time.time_ns()
    found = visits.get(ctx, actor, project, visit)
    folder = store_dir.resolve() / found.project
    tar = tarball.whole(found, started_ns)
    md5 = hashlib.md5(usedforsecurity=False)
    deposit.write_into(folder, found.tar_name, _hashed(tar.chunks(), md5.update))
    base = store_url.rstrip("/") if store_url else f"file://{store_dir.resolve()}"
    with tempfile.TemporaryDirectory(prefix="scandepot-datalad-", dir=ctx.store.tmp) as work:
        made = deposit.make(
            found,
            Path(work),
            store_url=base,
            previous=folder,
            run=deposit.plain_runner,
            started_ns=started_ns,
            tar_md5=md5.hexdigest(),
        )
        deposit.put(made, folder)
    return made
