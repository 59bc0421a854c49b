"""The README tells the truth: its parse example and its field table match the program."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from delist_bot.services.parse import parse_record
from tests.conftest import TESTS

ROOT = TESTS.parent
README = (ROOT / "README.md").read_text()


def test_parse_example_is_what_the_command_prints() -> None:
    command, output = re.search(r"\$ (delist-bot parse --json .+)\n\s+(\{.+\})", README).groups()
    path = shlex.split(command)[-1]
    assert parse_record(path, (ROOT / path).read_bytes()) == json.loads(output)


def test_every_field_is_documented() -> None:
    section = README.split("## `delist-bot parse", 1)[1].split("### Actions", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    record = parse_record(
        "x.eml", (TESTS / "samples" / "001-postfix-511-attached.eml").read_bytes()
    )
    assert set(record) | {"error"} == documented


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"^    (\./scripts/test)\b", README, re.MULTILINE).group(1)
    ci = [
        line
        for line in Path(ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == [command]


def test_the_configuration_example_is_valid_and_complete() -> None:
    import dataclasses
    import tomllib

    from delist_bot.config import Config, from_dict

    block = README.split("### Configuration", 1)[1].split("\n## ", 1)[0]
    toml = "\n".join(line[4:] for line in block.splitlines() if line.startswith("    "))
    config = from_dict(tomllib.loads(toml), {})
    assert config.mailbox.host == "imap.example.net"
    for section in dataclasses.fields(Config):
        if section.name == "base_dir":
            continue
        for key in dataclasses.fields(
            section.type if isinstance(section.type, type) else type(getattr(config, section.name))
        ):
            assert re.search(rf"\b{key.name}\b", block), f"{section.name}.{key.name} undocumented"


def test_every_report_key_is_documented() -> None:
    from datetime import UTC, datetime

    from delist_bot.reports.figures import QueueData, build_report

    section = README.split("The JSON keys are stable:", 1)[1].split("\n\n`status`", 1)[0]
    now = datetime(2026, 11, 27, tzinfo=UTC)
    for key in build_report(QueueData([]), now, now):
        assert f"`{key}" in section, key


def test_every_command_in_the_readme_exists() -> None:
    """Each `delist-bot <command> [<subcommand>]` the README shows is a command (--help works),
    and the deployment commands are all shown."""
    from click.testing import CliRunner

    from delist_bot.cli import cli

    resolved = set()
    for words in set(re.findall(r"delist-bot((?: [a-z][a-z-]+)+)", README)):
        path, group = [], cli
        for word in words.split():
            if word not in getattr(group, "commands", {}):
                break
            path.append(word)
            group = group.commands[word]
        if path:  # prose such as "delist-bot runs a mailbox" names no command
            result = CliRunner().invoke(cli, [*path, "--help"])
            assert result.exit_code == 0, (path, result.output)
            resolved.add(" ".join(path))
    deploy = {"init", "config check", "templates list", "templates check", "run", "status"}
    quarantine = {f"quarantine {c}" for c in ("list", "show", "retry", "dismiss")}
    assert deploy | quarantine <= resolved
