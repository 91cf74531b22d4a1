"""License-type templates (证照模板): made, bound to a seal and published per department.

::

    layout.py     the page layout of a template (schemas/template-layout.schema.json)
    numbering.py  the 证照编号 numbering rule a template states
    lifecycle.py  make → bind → publish (→ retire), every step recorded; find and list

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
