"""The city a registry serves: its departments, the license types they issue, the demo world.

::

    demo.py  the schema, the license types, and the demo city 示范市 with its seals and templates
"""

__all__: list[str] = []
