"""The README must not drift from the product: its commands exist, its variables are read."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from registry.cli import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text("utf-8")


def _commands() -> set[tuple[str, ...]]:
    """``licreg …`` lines inside the README's code blocks."""
    blocks = README.split("```")[1::2]
    found = set()
    for line in re.findall(r"^(?:\$ )?licreg (?:--lang \w+ )?([a-z][a-z -]*)", "\n".join(blocks),
                           flags=re.M):
        words = tuple(w for w in line.split() if not w.startswith("-"))
        found.add(words[:2])
    return found


@pytest.mark.parametrize("words", sorted(_commands()))
def test_readme_commands_exist(words: tuple[str, ...]) -> None:
    command: click.Command = cli
    path: list[str] = []
    for word in words:
        if not isinstance(command, click.Group):
            break  # the rest are arguments
        sub = command.get_command(click.Context(command), word)
        assert sub is not None, f"README mentions `licreg {' '.join(words)}`, which does not exist"
        command = sub
        path.append(word)
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_every_command_is_documented_with_help() -> None:
    def walk(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
        out = []
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None
            out.append((f"{prefix}{name}", cmd))
            if isinstance(cmd, click.Group):
                out += walk(cmd, f"{prefix}{name} ")
        return out

    for name, cmd in walk(cli, ""):
        assert cmd.help, f"licreg {name} has no help text"


def test_readme_variables_are_the_ones_the_code_reads() -> None:
    config = (REPO / "registry" / "config.py").read_text("utf-8")
    for var in ("LICREG_HOME", "LICREG_DATABASE_URL"):
        assert var in README and var in config
    assert "LICREG_KEY_PASSPHRASE" in README


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_test_file_the_code_and_docs_name_exists() -> None:
    """Docstrings and documents point readers at tests; the tests move, the pointers must too."""
    named = set()
    for folder, pattern in (("registry", "*.py"), ("flows", "*.py"), ("docs", "*.md"),
                            ("fixtures", "*.md"), ("fixtures", "*.py")):
        for path in (REPO / folder).rglob(pattern):
            named |= {(path.relative_to(REPO).as_posix(), t) for t in
                      re.findall(r"\btests/[\w/]+\.py\b", path.read_text("utf-8"))}
    named |= {("README.md", t) for t in re.findall(r"\btests/[\w/]+\.py\b", README)}
    assert sorted((where, t) for where, t in named if not (REPO / t).exists()) == []
