"""Every module that declares tables on :class:`registry.models.Base`, imported for Alembic.

A feature that adds tables in a module of its own adds one import line here.
"""

import registry.lifecycle  # noqa: F401 - license history table
from registry import (  # noqa: F401 - seal lifecycle, template tables
    batch_reports,
    seal_lifecycle,
    templates,
)
from registry.models import Base
from registry.pdf import models as pdf_models  # noqa: F401 - PDF rendition table
from registry.province import syncstate  # noqa: F401 - sync runs and checkpoints
from registry.tlog import models as tlog_models  # noqa: F401 - transparency log tables
from registry.verify import audit_runs  # noqa: F401 - registry audit runs (weekly bulletin)

__all__ = ["Base"]
