"""Automatic mail gets no reply; everything else gets the action its NDR asks for."""

from __future__ import annotations

import pytest

from delist_bot.core.models import Action, Extraction
from delist_bot.core.rules import automatic_reason, request_action
from delist_bot.ndr import extract

PERSON = "From: Ann <ann@example.org>\nTo: delist@delist.example.net\nSubject: help\n"
BODY = "\n\nplease delist: 550 5.7.511 Access denied, banned sender[81.2.69.142].\n"


@pytest.mark.parametrize(
    ("extra_headers", "automatic"),
    [
        ("", False),
        ("Auto-Submitted: no\n", False),
        ("Auto-Submitted: auto-replied\n", True),
        ("Auto-Submitted: auto-generated\n", True),
        ("Precedence: bulk\n", True),
        ("Precedence: junk\n", True),
        ("Precedence: list\n", True),
        ("List-Id: <admins.example.org>\n", True),
        ("List-Unsubscribe: <mailto:leave@example.org>\n", True),
        ("X-Autoreply: yes\n", True),
        ("X-Autorespond: yes\n", True),
        ("X-Auto-Response-Suppress: OOF\n", True),
        ("X-Auto-Response-Suppress: DR, RN\n", False),
        ("X-Delist-Bot-Action: review\n", True),
        ("Return-Path: <>\n", True),
        ("Return-Path: <ann@example.org>\n", False),
    ],
)
def test_automatic_markers(extra_headers: str, automatic: bool) -> None:
    extraction = extract((PERSON + extra_headers + BODY).encode())
    assert (automatic_reason(extraction) is not None) is automatic
    assert (request_action(extraction) is Action.IGNORE) is automatic


def test_mailer_daemon_is_automatic_unless_redirected() -> None:
    bounce = "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered" + BODY
    assert request_action(extract(bounce.encode())) is Action.IGNORE
    redirect = "Resent-From: ann@example.org\n" + bounce
    assert request_action(extract(redirect.encode())) is Action.REVIEW


def test_our_own_address_is_never_answered() -> None:
    ours = "From: delist@delist.example.net\nSubject: hi" + BODY
    extraction = extract(ours.encode())
    assert request_action(extraction, own_addresses=["Delist@delist.example.net"]) is Action.IGNORE


@pytest.mark.parametrize(
    ("kind", "ip", "action"),
    [
        (Action.REVIEW, "81.2.69.142", Action.REVIEW),
        (Action.REVIEW, "2a01:4f8:c17:1234::25", Action.REVIEW),
        (Action.REVIEW, "192.0.2.10", Action.NEED_INFO),
        (Action.REVIEW, "10.1.2.3", Action.NEED_INFO),
        (Action.REVIEW, "fe80::1", Action.NEED_INFO),
        (Action.REVIEW, None, Action.NEED_INFO),
        (Action.PORTAL, None, Action.PORTAL),
        (Action.CONSUMER, "81.2.69.142", Action.CONSUMER),
        (Action.OTHER, None, Action.OTHER),
        (None, "81.2.69.142", Action.NEED_INFO),
    ],
)
def test_action_table(kind: Action | None, ip: str | None, action: Action) -> None:
    extraction = Extraction(ndr_kind=kind, ip=ip, sender="ann@example.org")
    assert request_action(extraction) is action


def test_unreadable_message_has_no_action() -> None:
    assert request_action(Extraction(error="message is too large")) is None
