"""Chinese first: every message the code marks has its Chinese, and the machinery works.

Each package has its catalogue (``registry/locale/zh_CN/LC_MESSAGES/<package>.po``); run
``python -m registry.i18n`` after adding or changing a message, then translate the new entries.
"""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from registry.cli import cli
from registry.i18n import (
    DEFAULT_LANGUAGE,
    _,
    catalogue_path,
    domains,
    language,
    ngettext,
    source_messages,
    translated,
)

DOMAINS = domains()


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_message_has_its_chinese(domain: str) -> None:
    folder, pattern = DOMAINS[domain]
    used = source_messages(folder, pattern)
    po = catalogue_path(domain)
    catalog = read_po(po.open("rb")) if po.exists() else None
    missing = [m for m in used if catalog is None or catalog.get(m) is None
               or not translated(catalog.get(m))
               or isinstance(m, tuple) != isinstance(catalog.get(m).id, tuple)]
    assert missing == [], f"untranslated in {po.name}: run `python -m registry.i18n`, translate"
    if catalog is None:
        return
    stale = [m.id for m in catalog if m.id and m.id not in used]  # a plural id is a tuple
    assert stale == [], f"{po.name} holds messages the code no longer uses"
    for message in catalog:
        if not message.id:
            continue
        singular = message.id[0] if isinstance(message.id, tuple) else message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            assert _fields(form) == _fields(singular), f"{singular!r} → {form!r}: fields differ"


def test_chinese_by_default_english_on_request() -> None:
    with language(DEFAULT_LANGUAGE):
        assert _("error: {detail}", detail="x") == "错误：x"
    with language("en"):
        assert _("error: {detail}", detail="x") == "error: x"
        assert ngettext("{n} file", "{n} files", 2, n=2) == "2 files"
        assert ngettext("{n} license", "{n} licenses", 1, n=1) == "1 license"
    with language("zh"):  # a plural has its own entry in the catalogue, with its forms
        assert ngettext("{n} license", "{n} licenses", 3, n=3) == "3 张证照"
    with pytest.raises(ValueError, match="licreg speaks zh, en"), language("fr"):
        pass


def test_the_command_line_speaks_the_language_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LICREG_LANG", raising=False)
    monkeypatch.setenv("LICREG_HOME", str(tmp_path))
    monkeypatch.setenv("LICREG_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    chinese = runner.invoke(cli, ["batch", "show", "999"])
    english = runner.invoke(cli, ["--lang", "en", "batch", "show", "999"])
    assert (chinese.exit_code, english.exit_code) == (1, 1)
    assert chinese.output.startswith("错误：")
    assert english.output.startswith("error: ")
    monkeypatch.setenv("LICREG_LANG", "en")
    assert runner.invoke(cli, ["batch", "show", "999"]).output.startswith("error: ")


def test_the_command_list_is_in_the_language_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LICREG_LANG", raising=False)
    runner = CliRunner()
    chinese = runner.invoke(cli, ["--help"]).output
    assert "命令:" in chinese and "发证部门：列出、查看、添加、更新、删除。" in chinese
    columns = [sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
               for line in chinese.splitlines()]
    assert max(columns) <= 80  # a Chinese character takes two columns
    english = runner.invoke(cli, ["--lang", "en", "--help"]).output
    assert "Issuing departments: list, show, add, update, remove." in english
    monkeypatch.setenv("LICREG_LANG", "en")  # --help is answered before --lang is read
    assert "Commands:" in runner.invoke(cli, ["--help"]).output


def test_a_message_means_one_thing_in_every_catalogue() -> None:
    # The catalogues are chained into one lookup: a msgid translated two ways in two
    # catalogues would be shown one way everywhere. Give such words distinct msgids.
    meanings: dict[object, dict[str, object]] = {}
    for domain in DOMAINS:
        po = catalogue_path(domain)
        if po.exists():
            for message in read_po(po.open("rb")):
                if message.id:
                    meanings.setdefault(message.id, {})[domain] = message.string
    clashes = {m: d for m, d in meanings.items() if len({str(s) for s in d.values()}) > 1}
    assert clashes == {}
