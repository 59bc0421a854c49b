"""Helpers that talk to the test Dovecot directly, as a mail server delivering requests would."""

from __future__ import annotations

from collections.abc import Iterable

import imapclient

from tests.support.servers import PASSWORD, Dovecot


def client(dovecot: Dovecot, user: str) -> imapclient.IMAPClient:
    connection = imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    connection.login(user, PASSWORD)
    return connection


def deliver(dovecot: Dovecot, user: str, messages: Iterable[bytes], folder: str = "INBOX") -> None:
    connection = client(dovecot, user)
    try:
        for raw in messages:
            connection.append(folder, raw)
    finally:
        connection.logout()


def count(dovecot: Dovecot, user: str, folder: str) -> int:
    connection = client(dovecot, user)
    try:
        if not connection.folder_exists(folder):
            return 0
        return int(connection.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
    finally:
        connection.logout()
