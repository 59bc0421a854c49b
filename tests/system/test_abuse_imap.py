"""Hostile mail end to end: aiming the bot at third parties, speaking for others' cases, floods.

Real Dovecot and aiosmtpd; every mail counted at the SMTP server by its RCPT TO. The samples and
what must happen to each are in tests/hostile/abuse/ (expected.tsv).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.core.budget import Recipient
from delist_bot.core.models import Case
from delist_bot.ndr import extract
from delist_bot.reports.figures import build_report
from delist_bot.runtime.digest import queue_data
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, TESTS, delist_bot, imap_settings, read_tsv
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_review_imap import reviewer_reply
from tests.system.test_worker_imap import _write_toml

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
REVIEWER = "rev@delist.example.net"
ABUSE = TESTS / "hostile" / "abuse"
ROWS = read_tsv(ABUSE / "expected.tsv")
# The scene every attack meets: DL-000001 closed, DL-000002 open, each with its requester.
SCENE = {
    "DL-000001": ("mario@mail.example.org", "81.2.69.142"),
    "DL-000002": ("ops@v6.example.net", "2a01:4f8:c17:1234::25"),
}
# Ordinary requests that arrive with the attack and must all be answered in its pass.
ORDINARY = [
    DATA_SAMPLES / name
    for name in (
        "02-review-same-ip-outlook-it.eml",
        "04-portal-redirected-bounce.eml",
        "05-consumer-outlook-com.eml",
        "06-other-spamhaus.eml",
        "07-need-info-placeholder.eml",
    )
]
ORDINARY_IDS = {
    "<sample-006@example.org>",
    "<bounce-031@mail.example.org>",
    "<sample-037@example.org>",
    "<sample-049@example.org>",
    "<sample-055@example.org>",
}


@pytest.fixture
def settings(dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path) -> dict:
    return imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "store.json",
        review={"reviewers": [REVIEWER], "secret": "test-secret"},
    )


@pytest.fixture
def config(settings: dict) -> Config:
    return from_dict(settings, {})


def key(address: str) -> str:
    return Recipient.of(address).key


def outside(smtp: SmtpServer, start: int = 0) -> list[tuple[str, Message]]:
    """(recipient, mail) for every RCPT TO of mail to an outside address since START."""
    return [
        (rcpt, msg)
        for envelope, msg in smtp.recorder.messages[start:]
        if not msg["X-Delist-Bot-Action"].startswith(("reviewer_", "operator_"))
        for rcpt in envelope.rcpt_tos
    ]


def team(smtp: SmtpServer, start: int = 0) -> list[Message]:
    return [
        msg
        for _, msg in smtp.recorder.messages[start:]
        if msg["X-Delist-Bot-Action"].startswith(("reviewer_", "operator_"))
    ]


def text_of(msg: Message) -> str:
    body = msg.get_payload(decode=True) or b""
    return str(msg) + body.decode("utf-8", "replace")


def copies(sample: Path, count: int) -> list[bytes]:
    """COPY in a sample becomes the copy's number (its Message-ID, a +tag, an IP)."""
    raw = sample.read_bytes()
    return [raw.replace(b"COPY", str(n).encode()) for n in range(1, count + 1)]


def all_cases(config: Config) -> dict[str, Case]:
    with Store(Path(config.store.path)).transaction() as tx:
        return {c.id: c for c in tx.cases.all()}


def set_the_scene(dovecot: Dovecot, user: str, smtp: SmtpServer, config: Config) -> None:
    """DL-000001 (mario) is closed by its reviewer, DL-000002 (ops) is open."""
    requests = ["01-review-attached-en.eml", "03-review-ipv6-apple-mail.eml"]
    deliver(dovecot, user, [(DATA_SAMPLES / name).read_bytes() for name in requests])
    Worker(config).run_once(T0)
    [notification] = [m for m in team(smtp) if m["X-Delist-Bot-Case"] == "DL-000001"]
    deliver(dovecot, user, [reviewer_reply(notification, "close")])
    Worker(config).run_once(T0 + timedelta(minutes=30))
    assert {c.id: c.status.value for c in all_cases(config).values()} == {
        "DL-000001": "closed",
        "DL-000002": "open",
    }


def assert_ordinary_answered(smtp: SmtpServer, start: int) -> None:
    answered = {msg["In-Reply-To"] for _, msg in outside(smtp, start)}
    assert answered >= ORDINARY_IDS


def assert_within_budget(smtp: SmtpServer, per_address: int, window: timedelta) -> None:
    """In no window did one outside mailbox get more than PER_ADDRESS mails, nor one domain
    more than 100 in a day."""
    sent = [(key(rcpt), parsedate_to_datetime(msg["Date"])) for rcpt, msg in outside(smtp)]
    for address, at in sent:
        recent = [t for a, t in sent if a == address and at - window < t <= at]
        assert len(recent) <= per_address, address
        domain = address.rpartition("@")[2]
        day = [t for a, t in sent if a.endswith("@" + domain) and at - timedelta(days=1) < t <= at]
        assert len(day) <= 100, domain


def assert_no_leak(smtp: SmtpServer, start: int, attackers: set[str]) -> None:
    """Nothing sent to an attacker names a scene case, or its IP, that is not theirs."""
    for rcpt, msg in outside(smtp, start):
        if key(rcpt) not in attackers:
            continue
        for case_id, (requester, ip) in SCENE.items():
            if key(rcpt) != key(requester):
                assert case_id not in text_of(msg) and ip not in text_of(msg), (rcpt, case_id)


def test_every_sample_has_its_row_and_is_small() -> None:
    samples = sorted(ABUSE.glob("*.eml"))
    assert [p.name for p in samples] == sorted(r["file"] for r in ROWS)
    assert all(p.stat().st_size <= 120_000 for p in samples)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_each_hostile_sample_meets_its_expectation(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config, row: dict
) -> None:
    set_the_scene(dovecot, imap_user, smtp_server, config)
    before = all_cases(config)
    start = len(smtp_server.recorder.messages)
    attack = copies(ABUSE / row["file"], int(row["copies"]))
    deliver(dovecot, imap_user, attack + [path.read_bytes() for path in ORDINARY])
    report = Worker(config).run_once(T0 + timedelta(hours=1))

    assert len(report.processed) == len(attack) + len(ORDINARY)
    assert_ordinary_answered(smtp_server, start)
    stem = f"mid:<{row['file'].removesuffix('.eml')}-"
    mine = [p for p in report.processed if p.key.startswith(stem)]
    assert sum(p.outcome == "rate_limited" for p in mine) == int(row["rate_limited"])
    attackers = {key(p.sender) for p in mine if p.sender}
    to_attackers = Counter(key(r) for r, _ in outside(smtp_server, start) if key(r) in attackers)
    assert max(to_attackers.values(), default=0) == int(row["most_to_one"])
    assert_no_leak(smtp_server, start, attackers)
    after = all_cases(config)
    # The attackers' cases and the scene's; not those of the ordinary requests beside them.
    theirs = {i for i, c in after.items() if key(c.requester) in attackers} | set(SCENE)
    reviewer_mails = [m for m in team(smtp_server, start) if m["X-Delist-Bot-Case"] in theirs]
    assert len(reviewer_mails) == int(row["reviewer_mails"])
    opened = {i for i, c in after.items() if i not in before and key(c.requester) in attackers}
    assert len(opened) == int(row["new_cases"])
    added = [len(after[i].events) - len(before[i].events) for i in SCENE]
    assert max(added) == int(row["case_events"])

    holding_start = len(smtp_server.recorder.messages)
    Worker(config).run_once(T0 + timedelta(hours=47))
    holding = [
        m
        for _, m in outside(smtp_server, holding_start)
        if m["X-Delist-Bot-Action"] == "holding" and m["X-Delist-Bot-Case"] in opened
    ]
    assert len(holding) == int(row["holding"])
    assert_within_budget(smtp_server, 3, timedelta(hours=24))


def crafted(n: int, victim: str) -> bytes:
    """One of the 20 crafted requests: a spam subject naming the closed case, aimed at the
    victim by Reply-To; every third carries a 5.7.511 NDR with a fresh IP (a case to open)."""
    ndr = (
        "\n\n<j.doe@contoso.com>: host contoso-com.mail.protection.outlook.com[104.47.8.36] "
        f"said: 550 5.7.511 Access denied, banned sender[81.2.71.{n + 1}]. To request removal "
        "from this list, forward this message to delist@microsoft.com. AS(1430)\n"
    )
    return (
        f"From: Spammer <attacker{n}@evil{n % 4}.example>\nTo: delist@delist.example.net\n"
        f"Subject: Re: [DL-000001] Cheap pills {n}: http://pills.example/{n}\n"
        f"Reply-To: {victim}\nMessage-ID: <crafted-{n}@evil.example>\n\n"
        f"Claim your prize at http://pills.example/{n}{ndr if n % 3 == 0 else ''}\n"
    ).encode()


def fresh(path: Path, n: int) -> bytes:
    """An ordinary request from a sender of its own, with a Message-ID of its own."""
    raw, found = path.read_bytes(), extract(path.read_bytes())
    assert found.sender and found.message_id
    local, _, domain = found.sender.partition("@")
    raw = raw.replace(found.message_id.encode(), f"<{local}-{n}@{domain}>".encode())
    return raw.replace(found.sender.encode(), f"{local}-{n}@{domain}".encode())


VICTIMS = ["victim@target.example", "victim+1@target.example", "Victim+2@target.example"]


@pytest.mark.parametrize("window_hours", [24, 48])
def test_twenty_crafted_requests_over_47_hours_reach_the_victim_at_most_the_budget(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    settings: dict,
    tmp_path: Path,
    window_hours: int,
) -> None:
    """With a 48-hour window, at most replies_per_sender mails in all the 47 hours; with the
    default 24, at most that many in any 24 hours (holding replies included)."""
    settings["limits"] = {"reply_window_hours": window_hours}
    config = from_dict(settings, {})
    set_the_scene(dovecot, imap_user, smtp_server, config)
    before = set(all_cases(config))
    for n in range(20):
        at = T0 + timedelta(hours=1 + n * 2.4)  # the last at 46.6 h
        start = len(smtp_server.recorder.messages)
        ordinary = [fresh(path, n) for path in ORDINARY]
        deliver(dovecot, imap_user, [crafted(n, VICTIMS[n % 3]), *ordinary])
        report = Worker(config).run_once(at)
        assert len(report.processed) == 1 + len(ORDINARY)
        answered = {m["In-Reply-To"] for _, m in outside(smtp_server, start)}
        assert answered >= {extract(raw).message_id for raw in ordinary}
    # The last pass as an operator's cron runs it: the holding replies fall due here.
    config_file = _write_toml(tmp_path, settings)
    done = delist_bot(
        "run",
        "--once",
        "--now",
        (T0 + timedelta(hours=48)).isoformat(),
        "--config",
        str(config_file),
    )
    assert done.returncode == 0, done.stderr

    victim = key(VICTIMS[0])
    to_victim = [m for r, m in outside(smtp_server) if key(r) == victim]
    cases = all_cases(config)
    victim_cases = [c for i, c in cases.items() if i not in before and key(c.requester) == victim]
    if window_hours == 48:
        assert 1 <= len(to_victim) <= 3 and len(victim_cases) <= 3
    assert len(victim_cases) <= len({m["X-Delist-Bot-Case"] for m in to_victim} - {None})
    assert_within_budget(smtp_server, 3, timedelta(hours=window_hours))
    for msg in to_victim:
        assert "DL-000001" not in text_of(msg) and "81.2.69.142" not in text_of(msg)
    assert not [m for m in team(smtp_server) if victim in str(m["To"]).lower()]
    assert [e.kind for e in cases["DL-000001"].events if e.kind == "reopened_as"] == []


def test_a_stranger_on_an_open_case_reaches_no_reviewer_and_its_requester_still_does(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    set_the_scene(dovecot, imap_user, smtp_server, config)
    events = len(all_cases(config)["DL-000002"].events)
    start = len(smtp_server.recorder.messages)
    strangers = copies(ABUSE / "stranger-names-open-case.eml", 300)
    genuine = (
        b"From: Ops <OPS+delist@v6.example.net>\nTo: delist@delist.example.net\n"
        b"Subject: Re: Fwd: Undeliverable: Offer [DL-000002]\n"
        b"Message-ID: <genuine@v6.example.net>\n\nWe have closed the open relay.\n"
    )
    deliver(dovecot, imap_user, [*strangers[:150], genuine, *strangers[150:]])
    report = Worker(config).run_once(T0 + timedelta(hours=1))

    outcomes = Counter((p.action, p.outcome) for p in report.processed)
    assert outcomes == {
        ("need_info", "replied"): 3,
        ("need_info", "rate_limited"): 297,
        ("follow_up", "added_to_case"): 1,
    }
    [relayed] = team(smtp_server, start)
    assert relayed["X-Delist-Bot-Action"] == "reviewer_followup"
    assert "closed the open relay" in text_of(relayed)
    case = all_cases(config)["DL-000002"]
    assert len(case.events) == events + 1 and case.events[-1].kind == "follow_up"
    assert_no_leak(smtp_server, start, {"stranger@evil.example"})


def test_rate_limited_requests_are_counted_in_the_report(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    deliver(dovecot, imap_user, copies(ABUSE / "third-party-reply-to.eml", 5))
    Worker(config).run_once(T0)
    figures = build_report(queue_data(Store(Path(config.store.path)), T0 - DAY), T0, T0 - DAY)
    assert figures["requests"]["total"] == 5 and figures["requests"]["rate_limited"] == 2
