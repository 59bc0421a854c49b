"""A broken configuration is one line naming the key; secrets may come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from delist_bot.config import ConfigError, from_dict, load
from tests.conftest import delist_bot

VALID = {
    "mailbox": {
        "kind": "imap",
        "host": "imap.example.net",
        "port": 993,
        "username": "delist",
        "password": "pw",
    },
    "smtp": {"kind": "smtp", "host": "smtp.example.net", "from_address": "delist@example.net"},
    "store": {"path": "state/store.json"},
    "review": {"reviewers": ["r@example.net"], "operators": ["o@example.net"]},
}


def _with(section: str, **values: object) -> dict:
    return {**VALID, section: {**VALID.get(section, {}), **values}}


def test_a_valid_config_loads() -> None:
    config = from_dict(VALID, {})
    assert config.mailbox.folder == "INBOX" and config.mailbox.processed_folder == "Processed"
    assert config.review.reviewers == ["r@example.net"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("mailbox", colour="red"), "unknown key mailbox.colour"),
        ({**VALID, "mailboxes": {}}, "unknown section [mailboxes]"),
        (_with("mailbox", port="993"), "mailbox.port must be a whole number, not str"),
        (_with("mailbox", port=True), "mailbox.port must be a whole number, not bool"),
        (_with("mailbox", kind="pop3"), 'mailbox.kind must be one of "imap", "maildir", not'),
        (_with("mailbox", security="tls"), "mailbox.security must be one of"),
        (_with("review", reviewers="r@example.net"), "review.reviewers must be a list of strings"),
        (_with("mailbox", password=""), "mailbox.password is required"),
        (_with("smtp", from_address=""), "smtp.from_address is required"),
        (_with("mailbox", kind="maildir", path=""), "mailbox.path is required"),
        (_with("smtp", kind="files"), "smtp.path is required"),
        (_with("limits", replies_per_sender=0), "limits.replies_per_sender must be at least 1"),
        ({**VALID, "store": "x"}, "[store] must be a table"),
        ({**VALID, "schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone 'Mars/Olympus'"),
        ({**VALID, "schedule": {"digest_time": "8 am"}}, "schedule.digest_time must be HH:MM"),
    ],
)
def test_mistakes_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(data, {})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_secrets_come_from_the_environment() -> None:
    data = _with("mailbox", password="")
    environ = {
        "DELIST_BOT_IMAP_PASSWORD": "from-env",
        "DELIST_BOT_SMTP_PASSWORD": "smtp-env",
        "DELIST_BOT_SECRET": "hmac-key",
    }
    config = from_dict(data, environ)
    assert (config.mailbox.password, config.smtp.password, config.review.secret) == (
        "from-env",
        "smtp-env",
        "hmac-key",
    )


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[mailbox\nkind = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(broken, {})
    with pytest.raises(ConfigError, match="no configuration"):
        load(None, {})


def test_the_cli_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "delist-bot.toml"
    config.write_text('[mailbox]\nkind = "imap"\nhots = "x"\n')
    result = delist_bot("run", "--once", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr == "delist-bot: unknown key mailbox.hots\n"


def test_bad_now_is_a_usage_error(tmp_path: Path) -> None:
    result = delist_bot("run", "--once", "--now", "soon")
    assert (
        result.returncode == 2 and "ISO 8601" in result.stderr and "Traceback" not in result.stderr
    )
