"""Every module that declares tables on :class:`registry.models.Base`, imported for Alembic.

A feature that adds tables in a module of its own adds one import line here.
"""

from registry.models import Base

__all__ = ["Base"]
