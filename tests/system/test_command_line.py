"""The fast lane's command line is the real one: a child forked from the zygote
(tests/support/zygote.py) answers as `python -m delist_bot` started here answers, byte for byte,
and sees the test's folder and environment as a child of the test would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import delist_bot, delist_bot_process
from tests.support.zygote import Zygote


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("run", "--once", "--config", "/nonexistent/delist-bot.toml"),
        ("cases", "show", "DL-000001", "--config", "/nonexistent/delist-bot.toml"),
        ("parse", "/nonexistent.eml"),
        ("no-such-command",),
    ],
)
def test_the_zygote_runs_a_command_line_as_its_own_process_does(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    zygote = Zygote(tmp_path)
    try:
        forked = zygote.run(*args)
    finally:
        zygote.stop()
    alone = delist_bot_process(*args)
    assert forked == (alone.returncode, alone.stdout, alone.stderr)


def test_the_tests_command_line_sees_their_folder_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DELIST_BOT_CONFIG", "relative.toml")  # found in the folder, by the env
    Path("relative.toml").write_text('[mailbox]\nkind = "carrier-pigeon"\n')
    forked, alone = delist_bot("run", "--once"), delist_bot_process("run", "--once")
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )
    assert forked.returncode == 1 and "mailbox.kind" in forked.stderr
