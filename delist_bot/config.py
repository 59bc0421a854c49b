"""Settings: a TOML file plus DELIST_BOT_* environment variables, validated once at start.

Any mistake stops the program with one line that names the key (ConfigError).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SECRET_ENVIRONMENT = {
    ("mailbox", "password"): "DELIST_BOT_IMAP_PASSWORD",
    ("mailbox", "oauth_token"): "DELIST_BOT_IMAP_TOKEN",
    ("smtp", "password"): "DELIST_BOT_SMTP_PASSWORD",
    ("review", "secret"): "DELIST_BOT_SECRET",
}


class ConfigError(Exception):
    """A configuration mistake, worded as the one line the user sees."""


@dataclass(frozen=True)
class MailboxConfig:
    kind: Literal["imap", "maildir"] = "imap"
    host: str = "127.0.0.1"
    port: int = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = ""
    password: str = ""
    auth: Literal["password", "xoauth2"] = "password"
    oauth_token: str = ""
    oauth_token_command: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    path: str = ""
    timeout: float = 30.0
    batch_size: int = 50
    max_message_bytes: int = 10 * 1024 * 1024
    idle: bool = True


@dataclass(frozen=True)
class SmtpConfig:
    kind: Literal["smtp", "files"] = "smtp"
    host: str = "127.0.0.1"
    port: int = 465
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = ""
    password: str = ""
    from_address: str = ""
    path: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class StoreConfig:
    path: str = "data/delist-bot.json"


@dataclass(frozen=True)
class ReviewConfig:
    reviewers: list[str] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    secret: str = ""
    secret_file: str = ""  # a file (mode 0600) holding the secret; `delist-bot init` writes one
    authserv_id: str = ""
    require_listed: bool = False
    reminder_hours: float = 24.0
    escalation_hours: float = 40.0
    holding_hours: float = 44.0


@dataclass(frozen=True)
class LimitsConfig:
    """The outgoing budget: mails to one outside address in a window, and to one domain a day."""

    replies_per_sender: int = 3
    reply_window_hours: int = 24
    replies_per_domain: int = 100


@dataclass(frozen=True)
class ScheduleConfig:
    poll_seconds: int = 60
    outbox_seconds: int = 30
    timezone: str = "UTC"
    digest_time: str = "08:00"


@dataclass(frozen=True)
class TemplatesConfig:
    path: str = ""  # a folder whose templates replace the built-in ones of the same name


@dataclass(frozen=True)
class EvidenceConfig:
    """Where evidence comes from: DNS servers ("host:port"; none: the system's), block list zones
    asked about each IP, an RDAP base URL (the IP is appended), and each lookup's time limit."""

    nameservers: list[str] = field(default_factory=list)
    dnsbl_zones: list[str] = field(default_factory=list)
    rdap_url: str = ""
    timeout_seconds: float = 3.0


@dataclass(frozen=True)
class PolicyConfig:
    """off: no evidence is gathered; suggest: reviewers see what the rules suggest; auto: a
    request the rules approve is delisted at once (reviewers may overturn it with deny)."""

    mode: Literal["off", "suggest", "auto"] = "off"


@dataclass(frozen=True)
class Config:
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    base_dir: Path = Path(".")


def load(path: str | Path | None, environ: typing.Mapping[str, str] = os.environ) -> Config:
    """Read and validate the file named by PATH, or DELIST_BOT_CONFIG."""
    path = path or environ.get("DELIST_BOT_CONFIG")
    if not path:
        raise ConfigError("no configuration: pass --config FILE or set DELIST_BOT_CONFIG")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return from_dict(data, environ, base_dir=Path(path).resolve().parent)


def from_dict(
    data: dict[str, Any], environ: typing.Mapping[str, str] = os.environ, base_dir: Path = Path(".")
) -> Config:
    sections = {}
    for name, value in data.items():
        section_type = _field_types(Config).get(name)
        if section_type is None or name == "base_dir":
            raise ConfigError(f"unknown section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _section(name, section_type, value, environ)
    for name, section_type in _field_types(Config).items():
        if name not in sections and name != "base_dir":
            sections[name] = _section(name, section_type, {}, environ)
    config = Config(**sections, base_dir=base_dir)
    _check_required(config)
    _check_templates(config)
    _check_evidence(config.evidence)
    return _with_secret_file(config)


def _with_secret_file(config: Config) -> Config:
    """The review secret from [review] secret_file, unless given itself (or by environment)."""
    review = config.review
    if review.secret or not review.secret_file:
        return config
    path = resolve(config, review.secret_file)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not text"
        raise ConfigError(f"review.secret_file: cannot read {path}: {reason}") from exc
    if not secret:
        raise ConfigError(f"review.secret_file: {path} is empty")
    return dataclasses.replace(config, review=dataclasses.replace(review, secret=secret))


def _check_templates(config: Config) -> None:
    if config.templates.path and not resolve(config, config.templates.path).is_dir():
        raise ConfigError(
            f"templates.path: {resolve(config, config.templates.path)} is not a folder"
        )


def _section(
    name: str, cls: type, values: dict[str, Any], environ: typing.Mapping[str, str]
) -> Any:
    types_by_key = _field_types(cls)
    checked = {}
    for key, value in values.items():
        if key not in types_by_key:
            raise ConfigError(f"unknown key {name}.{key}")
        checked[key] = _check_type(f"{name}.{key}", value, types_by_key[key])
    for (section, key), variable in SECRET_ENVIRONMENT.items():
        if section == name and environ.get(variable):
            checked[key] = environ[variable]
    return cls(**checked)


def _check_type(key: str, value: Any, expected: Any) -> Any:
    origin = typing.get_origin(expected)
    if origin is Literal:
        if value not in typing.get_args(expected):
            allowed = ", ".join(f'"{a}"' for a in typing.get_args(expected))
            raise ConfigError(f"{key} must be one of {allowed}, not {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {_type_name(expected)}, not {type(value).__name__}")
    return value


def _type_name(expected: type) -> str:
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}.get(
        expected, expected.__name__
    )


def _check_required(config: Config) -> None:
    _check_schedule(config.schedule)
    mailbox, smtp = config.mailbox, config.smtp
    required = [
        ("mailbox.path", mailbox.kind == "maildir" and not mailbox.path),
        ("mailbox.host", mailbox.kind == "imap" and not mailbox.host),
        ("mailbox.username", mailbox.kind == "imap" and not mailbox.username),
        ("smtp.path", smtp.kind == "files" and not smtp.path),
        ("smtp.host", smtp.kind == "smtp" and not smtp.host),
        ("smtp.from_address", not smtp.from_address or "@" not in smtp.from_address),
    ]
    for key, missing in required:
        if missing:
            raise ConfigError(f"{key} is required")
    if mailbox.kind == "imap" and mailbox.auth == "password" and not mailbox.password:
        raise ConfigError("mailbox.password is required (or set DELIST_BOT_IMAP_PASSWORD)")
    if mailbox.auth == "xoauth2" and not (mailbox.oauth_token or mailbox.oauth_token_command):
        raise ConfigError("mailbox.oauth_token or mailbox.oauth_token_command is required")
    for key, value in (
        ("limits.replies_per_sender", config.limits.replies_per_sender),
        ("limits.reply_window_hours", config.limits.reply_window_hours),
        ("limits.replies_per_domain", config.limits.replies_per_domain),
        ("schedule.poll_seconds", config.schedule.poll_seconds),
        ("mailbox.batch_size", mailbox.batch_size),
    ):
        if value < 1:
            raise ConfigError(f"{key} must be at least 1")


def _check_evidence(evidence: EvidenceConfig) -> None:
    for server in evidence.nameservers:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
        if server.startswith("["):
            host, _, port = server[1:].partition("]")
            port = port.removeprefix(":") or "53"
        if not port.isdigit() or not 0 < int(port) < 65536 or not _is_address(host):
            raise ConfigError(f"evidence.nameservers: {server!r} is not an IP address[:port]")
    if evidence.rdap_url and not evidence.rdap_url.startswith(("https://", "http://")):
        raise ConfigError(f"evidence.rdap_url must start with https://, not {evidence.rdap_url!r}")
    if not 0 < evidence.timeout_seconds <= 60:
        raise ConfigError("evidence.timeout_seconds must be more than 0 and at most 60")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_schedule(schedule: ScheduleConfig) -> None:
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"schedule.timezone {schedule.timezone!r} is not a known time zone"
        ) from exc
    hour, _, minute = schedule.digest_time.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"schedule.digest_time must be HH:MM, not {schedule.digest_time!r}")


def resolve(config: Config, path: str) -> Path:
    """A configured path, relative to the configuration file's folder."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else config.base_dir / candidate


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, globalns=globals(), localns={"Literal": Literal})
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
