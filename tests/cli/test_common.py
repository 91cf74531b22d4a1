"""What every command shares (``registry/cli/_common.py``): a failure is one clear line on
stderr and exit code 1, in the reader's language, never a traceback or a holder's data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LICREG_HOME", str(tmp_path))
    monkeypatch.setenv("LICREG_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.delenv("LICREG_TRACEBACK", raising=False)
    return tmp_path


@pytest.mark.parametrize("args", [["batch", "list"], ["seal", "list"], ["license", "list"],
                                  ["batch", "show", "3"]])
def test_a_registry_not_set_up_says_run_init(home: Path, args: list[str]) -> None:
    zh = CliRunner().invoke(cli, ["--lang", "zh", *args])
    assert zh.exit_code == 1, zh.output
    assert zh.output.startswith("错误：登记库 sqlite:///") and "请先运行 `licreg init`" in zh.output
    en = CliRunner().invoke(cli, ["--lang", "en", *args])
    assert en.exit_code == 1
    assert "is not set up" in en.output and "run `licreg init`" in en.output
    assert "Traceback" not in zh.output + en.output and "SELECT" not in zh.output + en.output
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    assert CliRunner().invoke(cli, args).exit_code in (0, 1)  # set up: the command itself runs
    assert "is not set up" not in CliRunner().invoke(cli, args).output


def test_an_unexpected_error_is_reported_by_an_id_and_logged_without_its_message(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("holder 张三 110101199003077777")  # a message that carries personal data

    monkeypatch.setattr("registry.cli.batch.list_batches", broken)
    result = CliRunner().invoke(cli, ["--lang", "zh", "batch", "list"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("错误：意外错误 ") and "（ValueError）" in line and "北京时间" in line
    assert "张三" not in line and "Traceback" not in line
    error_id = line.removeprefix("错误：意外错误 ").split("（")[0]
    log = (home / "logs" / "errors.log")
    logged = log.read_text(encoding="utf-8")
    assert f"== {error_id} " in logged and "ValueError" in logged and "in broken" in logged
    assert "张三" not in logged and "110101199003077777" not in logged
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    en = CliRunner().invoke(cli, ["--lang", "en", "batch", "list"])
    assert en.output.startswith("error: unexpected error ") and "Give this id" in en.output


def test_a_developer_may_ask_for_the_traceback(home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICREG_TRACEBACK", "1")
    result = CliRunner().invoke(cli, ["batch", "list"])
    assert result.exit_code == 1 and result.exception is not None
    assert "no such table" in str(result.exception)


def test_click_s_own_words_are_in_the_reader_s_language(home: Path) -> None:
    def run(*args: str) -> str:
        return CliRunner().invoke(cli, list(args), prog_name="licreg").output

    zh = CliRunner().invoke(cli, ["--lang", "zh", "batch", "show", "abc"], prog_name="licreg")
    assert zh.exit_code == 2
    assert zh.output.startswith("用法: licreg batch show [OPTIONS] BATCH_ID")
    assert "运行 'licreg batch show --help' 查看帮助。" in zh.output
    assert "错误：'BATCH_ID' 取值无效：'abc' 不是有效的数值（integer）。" in zh.output
    assert "没有命令 'shw'。" in run("--lang", "zh", "batch", "shw")
    en = CliRunner().invoke(cli, ["--lang", "en", "batch", "show", "abc"], prog_name="licreg")
    assert en.exit_code == 2 and en.output.startswith("Usage: licreg batch show")
    assert "Error: Invalid value for 'BATCH_ID': 'abc' is not a valid integer." in en.output
    for lang, words in (("zh", "显示本帮助并退出。"), ("en", "Show this message and exit.")):
        # Click builds a command's --help option once per process: a process per language.
        shown = subprocess.run([sys.executable, "-m", "registry.cli", "--help"], check=True,
                               env={**os.environ, "LICREG_LANG": lang}, capture_output=True,
                               text=True).stdout
        assert words in shown


def test_a_reader_that_stops_reading_ends_the_command_quietly(home: Path) -> None:
    # `licreg license list | head -1`: the pipe closes before licreg has written.
    child = subprocess.Popen([sys.executable, "-m", "registry.cli", "init"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    errors = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0
    assert errors == "" and not (home / "logs" / "errors.log").exists()
