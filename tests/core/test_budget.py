"""The outgoing budget and who speaks for a case: pure rules, then on a real store file.

The attacks end to end (Dovecot, SMTP) are in test_abuse_imap.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.config import ConfigError, from_dict
from delist_bot.core import budget, cases
from delist_bot.core.budget import Counts, Limits, Recipient, Verdict
from delist_bot.core.models import CaseStatus, Extraction, MailRecord
from delist_bot.core.review import Command
from delist_bot.core.rules import Route, route
from delist_bot.core.settings import Sender, Settings
from delist_bot.runtime.pipeline import apply_decision, deadline_pass, process
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REVIEWER = "rev@d.example"
SETTINGS = Settings(sender=Sender.from_address("delist@d.example"), reviewers=(REVIEWER,))
REQUEST = (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes()  # mario@mail.example.org
NEED_INFO = (DATA_SAMPLES / "07-need-info-placeholder.eml").read_bytes()  # help@small.example.fr


@pytest.mark.parametrize(
    ("address", "key", "domain"),
    [
        ("victim@target.example", "victim@target.example", "target.example"),
        ("Victim+1@Target.Example", "victim@target.example", "target.example"),
        ("victim+a+b@target.example", "victim@target.example", "target.example"),
        ("victim@target.example.", "victim@target.example", "target.example"),
        ("victim@mx.target.example", "victim@mx.target.example", "mx.target.example"),
        ("jürgen@bücher.example", "jürgen@xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("jürgen@XN--BCHER-KVA.example", "jürgen@xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("+tag@target.example", "@target.example", "target.example"),
    ],
)
def test_a_recipient_is_counted_as_one_mailbox_however_spelled(
    address: str, key: str, domain: str
) -> None:
    assert Recipient.of(address) == Recipient(key, domain)


@pytest.mark.parametrize(
    ("counts", "verdict"),
    [
        (Counts(0, 0), Verdict.SEND),
        (Counts(2, 99), Verdict.SEND),
        (Counts(3, 0), Verdict.RECIPIENT_SPENT),
        (Counts(3, 100), Verdict.RECIPIENT_SPENT),
        (Counts(0, 100), Verdict.DOMAIN_SPENT),
    ],
)
def test_the_budget_check(counts: Counts, verdict: Verdict) -> None:
    assert budget.check(counts, Limits()) is verdict


def test_the_reasons_name_the_budget_that_is_spent() -> None:
    recipient = Recipient.of("v+1@t.example")
    spent = budget.reason(Verdict.RECIPIENT_SPENT, Counts(3, 3), Limits(), recipient)
    assert spent == "3 mails to v@t.example in 24 h"
    domain = budget.reason(Verdict.DOMAIN_SPENT, Counts(0, 100), Limits(), recipient)
    assert domain == "100 mails to the domain t.example in 24 h"
    assert budget.reason(Verdict.SEND, Counts(), Limits(), recipient) == ""


CASE = cases.open_case(
    1,
    Extraction(
        message_id="<r@x>",
        sender="ann@example.org",
        ndr_code="5.7.511",
        ip="81.2.69.142",
        subject="Re: [DL-000009] help",
    ),
    T0,
)


@pytest.mark.parametrize(
    ("sender", "from_address", "expected"),
    [
        ("ann@example.org", "ann@example.org", Route.FOLLOW_UP),
        ("Ann+case@Example.org", "Ann+case@Example.org", Route.FOLLOW_UP),
        ("victim@target.example", "attacker@evil.example", Route.REQUEST),  # Reply-To
        ("ann@example.org", "attacker@evil.example", Route.REQUEST),  # Reply-To the requester
        ("eve@evil.example", "eve@evil.example", Route.REQUEST),
        ("ann@example.org.evil.example", "x@y.example", Route.REQUEST),
        (REVIEWER, REVIEWER, Route.COMMAND),  # lost its token: refused, not a request
    ],
)
def test_only_the_requester_speaks_for_a_case(
    sender: str, from_address: str, expected: Route
) -> None:
    message = Extraction(sender=sender, from_address=from_address, subject="Re: [DL-000001]")
    assert route(message, CASE, ("delist@d.example",), (REVIEWER,)) is expected


@pytest.mark.parametrize(
    ("subject", "echoed"),
    [
        ("Re: [DL-000001] Cheap pills", "Re: Cheap pills"),
        ("[DL-000001/0123456789abcdef] x [DL-000002]", "x"),
        ("Undeliverable [DL-1] [dl-000001]", "Undeliverable [DL-1] [dl-000001]"),
        ("[" * 10_000 + "DL-" * 10_000, "[" * 10_000 + "DL-" * 10_000),
    ],
)
def test_case_tags_are_not_echoed(subject: str, echoed: str) -> None:
    assert cases.without_case_tags(subject) == echoed


def test_a_case_keeps_its_subject_without_the_tags_of_other_cases() -> None:
    assert CASE.subject == "Re: help"


def test_a_case_relays_at_most_twenty_follow_ups() -> None:
    case = CASE
    relayed = 0
    for n in range(25):
        note = Extraction(message_id=f"<f{n}@x>", sender="ann@example.org", own_words=f"news {n}")
        decision = cases.follow_up(case, note, T0 + timedelta(minutes=n))
        relayed += len(decision.notices)
        assert decision.applied is (n < cases.MAX_FOLLOW_UPS_RELAYED)
        case = decision.case
    assert relayed == 20 and sum(e.kind == "follow_up" for e in case.events) == 20
    assert "<f24@x>" not in case.message_ids


def test_past_the_cap_a_follow_up_still_wakes_a_case_waiting_on_its_requester() -> None:
    case = CASE
    for _ in range(20):
        case = cases.follow_up(case, Extraction(sender="ann@example.org"), T0).case
    waiting = cases.apply_command(case, Command("info", "what?"), REVIEWER, T0).case
    decision = cases.follow_up(waiting, Extraction(sender="ann@example.org"), T0)
    assert decision.case.status is CaseStatus.OPEN and decision.notices == ()


# On a real store file ----------------------------------------------------------------------


def run(store: Store, raw: bytes, at: datetime, settings: Settings = SETTINGS):
    with store.transaction() as tx:
        return process(tx, "1", raw, at, settings)


def variant(raw: bytes, n: int) -> bytes:
    return raw.replace(b"Message-ID: <", b"Message-ID: <v%d-" % n, 1)


def outbox(store: Store) -> list[MailRecord]:
    with store.transaction() as tx:
        return tx.outbox.all()


def test_a_reviewer_decision_reaches_a_requester_whose_budget_is_spent(tmp_path: Path) -> None:
    """Decision: the requester hears it whatever the budget (only a reviewer causes it, and it
    is the answer they asked for); it counts on the budget like any mail."""
    store = Store(tmp_path / "s.json")
    assert run(store, REQUEST, T0).outcome == "replied"  # DL-000001, an acknowledgement
    for n in range(3):
        address = b"mario@mail.example.org" if n < 2 else b"Mario+x@mail.example.org"
        result = run(store, variant(NEED_INFO.replace(b"help@small.example.fr", address), n), T0)
        assert result.outcome == ("replied" if n < 2 else "rate_limited")
    with store.transaction() as tx:
        decision = cases.apply_command(
            tx.cases.get("DL-000001"), Command("info", "what?"), REVIEWER, T0
        )
        apply_decision(tx, decision, REVIEWER, T0, SETTINGS)
        counted = tx.replies.counts(Recipient.of("mario@mail.example.org"), T0, Limits())
    assert [d.kind for d in outbox(store) if d.to == "mario@mail.example.org"] == [
        "review",
        "need_info",
        "need_info",
        "info_request",
    ]
    assert counted == Counts(4, 4)


def test_a_holding_reply_waits_while_the_budget_is_spent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    run(store, REQUEST, T0)  # DL-000001 opens at T0: holding due at 44 h
    late = T0 + timedelta(hours=30)
    for n in range(3):  # the requester's budget is spent from 30 h to 54 h
        raw = variant(NEED_INFO.replace(b"help@small.example.fr", b"mario@mail.example.org"), n)
        run(store, raw, late)
    for hours in (44, 50):
        with store.transaction() as tx:
            done = deadline_pass(tx, T0 + timedelta(hours=hours), SETTINGS)
        assert ("DL-000001", "holding") not in done
    with store.transaction() as tx:
        done = deadline_pass(tx, T0 + timedelta(hours=55), SETTINGS)
        case = tx.cases.get("DL-000001")
    assert ("DL-000001", "holding") in done
    kinds = [e.kind for e in case.events]
    assert kinds.count("holding_withheld") == 1 and kinds.index("holding_withheld") < kinds.index(
        "holding"
    )
    assert case.breached_at == T0 + timedelta(hours=55)  # the promise was missed, on the record
    assert [d.kind for d in outbox(store)].count("holding") == 1


def test_a_request_over_the_budget_opens_no_case_and_joins_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    settings = dataclasses.replace(SETTINGS, replies_per_sender=1)
    run(store, REQUEST, T0, settings)
    other_ip = REQUEST.replace(b"81.2.69.142", b"81.2.69.143")
    over = [run(store, variant(raw, n), T0, settings) for n, raw in enumerate((REQUEST, other_ip))]
    assert [(p.outcome, p.case_id) for p in over] == [("rate_limited", None)] * 2
    with store.transaction() as tx:
        assert [c.id for c in tx.cases.all()] == ["DL-000001"]
        assert [e.kind for e in tx.cases.get("DL-000001").events] == ["opened", "reply_review"]
    assert [d.kind for d in outbox(store)] == ["review", "reviewer_notification"]


def test_the_reply_counts_are_pruned_with_their_window(tmp_path: Path) -> None:
    """10,000 distinct senders over three weeks: the store holds those of the last day only."""
    store = Store(tmp_path / "s.json")
    limits = Limits()
    per_day = 500
    for day in range(20):
        with store.transaction() as tx:
            for n in range(per_day):
                at = T0 + timedelta(days=day, minutes=n * 24 * 60 / per_day)
                tx.replies.count(Recipient.of(f"s{day}-{n}@d{n % 50}.example"), at, limits)
    with store.transaction() as tx:
        senders = tx.state.get("replies")
        domains = tx.state.get("domain_replies")
        recent = tx.replies.counts(Recipient.of("s19-499@d49.example"), at, limits)
    # A day's senders and the hour before the last prune, not 10,000.
    assert per_day <= len(senders) <= per_day * 25 / 24 + 1
    assert len(domains) == 50 and max(len(times) for times in domains.values()) <= 11
    assert recent.recipient == 1 and 10 <= recent.domain <= 11
    assert (tmp_path / "s.json").stat().st_size < 200_000


@pytest.mark.parametrize("key", ["replies_per_sender", "reply_window_hours", "replies_per_domain"])
def test_a_budget_of_nothing_is_a_configuration_mistake(key: str) -> None:
    data = {
        "mailbox": {"kind": "maildir", "path": "mail"},
        "smtp": {"kind": "files", "path": "out", "from_address": "delist@d.example"},
        "limits": {key: 0},
    }
    with pytest.raises(ConfigError, match=rf"^limits\.{key} must be at least 1$"):
        from_dict(data, {})
    assert from_dict({**data, "limits": {}}, {}).limits.replies_per_domain == 100
