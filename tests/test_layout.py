"""The shape of the code: imports run one way, the public surface is deliberate.

- no import cycle in ``registry/`` and ``flows/``, counting imports inside functions too;
- nothing in ``registry/`` imports ``flows`` or the command line (``registry.cli``), except
  the command line itself;
- an import inside a function says why on the line above or beside it (a measured start-up
  saving, an optional dependency);
- every public module declares ``__all__``, every name in it exists, and every public
  function or class a module defines is in it (as httpx's ``test_exported_members``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import flows
import registry
from tests.conftest import REPO

PACKAGES = ("registry", "flows")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[ast.stmt, str, bool]]:
    """(statement, imported module, inside a function) for every import of ours in a module."""
    tree = ast.parse(path.read_text("utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    in_function = {id(node) for fn in ast.walk(tree)
                   if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                   for node in ast.walk(fn)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield node, target, id(node) in in_function


GRAPH = {name: sorted({t for _, t, _ in _imports(name, path)}) for name, path in MODULES.items()}


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in GRAPH[module]:
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_library_never_imports_the_flows_or_the_command_line() -> None:
    upward = [(m, t) for m, targets in GRAPH.items() if m.startswith("registry")
              for t in targets
              if t.startswith("flows") or (t.startswith("registry.cli")
                                           and not m.startswith("registry.cli"))]
    assert upward == []


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text("utf-8").splitlines()
        for node, _, inside in _imports(name, path):
            here, above = lines[node.lineno - 1], lines[node.lineno - 2]
            if inside and "#" not in here and not above.strip().startswith("#"):
                unexplained.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert unexplained == []


def _public_modules() -> list[str]:
    names = []
    for package in (registry, flows):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            parts = info.name.split(".")
            if not any(p.startswith("_") for p in parts) and "migrations" not in parts:
                names.append(info.name)
    return names


def _defined_in(obj: object, module: str) -> bool:
    """A function, class or click command that ``module`` itself defines."""
    if isinstance(obj, click.Command):
        return getattr(obj.callback, "__module__", None) == module
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module


@pytest.mark.parametrize("name", _public_modules())
def test_the_public_surface_is_declared(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    assert len(set(exported)) == len(exported)
    undeclared = [n for n, obj in vars(module).items()
                  if not n.startswith("_") and n not in exported and _defined_in(obj, name)]
    assert undeclared == [], f"{name}: public but not in __all__"


def test_the_command_table_summarizes_each_command_as_it_does_itself() -> None:
    from registry.cli import COMMANDS

    for name, (target, summary) in COMMANDS.items():
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        assert command.name == name
        assert summary == command.get_short_help_str(limit=1000), name
