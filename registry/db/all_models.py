"""Every module that declares tables on :class:`registry.db.models.Base`, imported for Alembic.

A feature that adds tables in a module of its own adds one import line here.
"""

import registry.license.lifecycle  # noqa: F401 - license history table
from registry.db.models import Base
from registry.province import syncstate  # noqa: F401 - sync runs and checkpoints
from registry.render import models as render_models  # noqa: F401 - PDF rendition table
from registry.seal import lifecycle as seal_lifecycle  # noqa: F401 - seal lifecycle tables
from registry.template import lifecycle as template_lifecycle  # noqa: F401 - template events
from registry.tlog import models as tlog_models  # noqa: F401 - transparency log tables
from registry.verify import audit_runs  # noqa: F401 - registry audit runs (weekly bulletin)

__all__ = ["Base"]
