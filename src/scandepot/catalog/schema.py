"""The whole schema: importing every table module fills ``Base.metadata``.

Alembic's environment (db/migrations/env.py) and the tests compare the database with it.
"""

from scandepot.catalog import (
    access,
    archive,
    clinical,
    datasets,
    deid,
    dicom_nodes,
    drops,
    journal,
    notify,
    pipelines,
    prearchive,
    push,
    retention,
    selections,
    transfers,
)
from scandepot.db.base import Base

metadata = Base.metadata

# Imported for the tables they declare on Base.metadata.
TABLE_MODULES = (
    access,
    archive,
    clinical,
    datasets,
    deid,
    dicom_nodes,
    drops,
    journal,
    notify,
    pipelines,
    prearchive,
    push,
    retention,
    selections,
    transfers,
)

__all__ = ["TABLE_MODULES", "metadata"]
