"""`delist-bot config check`: the file, the secret's permissions, the templates, the store's
folder, the mailbox (login, folders) and the SMTP server (connection, TLS, auth), touching no
message. Each problem is one line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from delist_bot.config import Config, resolve
from delist_bot.mailbox import MailboxError


def problems(config: Config) -> list[str]:
    found = _secret(config) + _review(config) + _store(config) + _templates(config)
    return found + _mailbox(config) + _smtp(config)


def _secret(config: Config) -> list[str]:
    if not config.review.secret_file:
        return []
    path = resolve(config, config.review.secret_file)
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        return [f"review.secret_file: {path} can be read by others (chmod 600 {path})"]
    return []


def _review(config: Config) -> list[str]:
    if not config.review.reviewers:
        return ["review.reviewers is empty: nobody is told of new cases"]
    return []


def _store(config: Config) -> list[str]:
    folder = resolve(config, config.store.path).parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        return [f"store.path: cannot write in {existing or folder}"]
    return []


def _templates(config: Config) -> list[str]:
    from delist_bot.services.template_check import check

    folder = resolve(config, config.templates.path) if config.templates.path else None
    return [f"templates: {p}" for p in check(folder)]


def _mailbox(config: Config) -> list[str]:
    settings = config.mailbox
    if settings.kind == "maildir":
        path = resolve(config, settings.path)
        target = path if path.exists() else path.parent
        if not os.access(target, os.W_OK | os.X_OK):
            return [f"mailbox.path: cannot write in {target}"]
        return []
    from delist_bot.mailbox.imap import connect

    try:
        client = connect(settings)
    except MailboxError as exc:
        return [f"mailbox: {exc}"]
    try:
        if not client.folder_exists(settings.folder):
            return [f"mailbox.folder: no folder {settings.folder!r} on {settings.host}"]
        return []
    except OSError as exc:
        return [f"mailbox: IMAP {settings.host}:{settings.port}: {exc}"]
    finally:
        with contextlib.suppress(OSError):
            client.logout()


def _smtp(config: Config) -> list[str]:
    from delist_bot.smtp.transport import can_send

    if config.smtp.kind == "files":
        path = resolve(config, config.smtp.path)
        target = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        if not os.access(target, os.W_OK | os.X_OK):
            return [f"smtp.path: cannot write in {target}"]
        return []
    error = can_send(config)
    where = f"{config.smtp.host}:{config.smtp.port}"
    return [f"smtp: {where}: {error}"] if error else []
