"""Imports every model module so that ``Base.metadata`` holds the whole schema."""

from scandepot.access import models as access_models
from scandepot.archive import models as archive_models
from scandepot.db.base import Base
from scandepot.pipelines import models as pipeline_models
from scandepot.prearchive import models as prearchive_models

metadata = Base.metadata

__all__ = [
    "access_models",
    "archive_models",
    "metadata",
    "pipeline_models",
    "prearchive_models",
]
