"""The policy table over plain values: which evidence and history approve, and why not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from delist_bot.config import ConfigError, from_dict
from delist_bot.core import cases, policy
from delist_bot.core.evidence import Evidence, Listing, SpfResult, Verdict
from delist_bot.core.models import CaseStatus, Extraction
from delist_bot.core.review import Command

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CLEAN = Evidence(
    ptr="mail.goodmail.test",
    fcrdns=Verdict.PASS,
    requester_domain_match=True,
    spf=SpfResult.PASS,
    dnsbl_checked=True,
)
NONE = policy.History()


def days_ago(n: int) -> datetime:
    return NOW - timedelta(days=n)


TABLE = [
    # evidence, history, approved, the reason given when not
    (CLEAN, NONE, True, None),
    (dataclasses.replace(CLEAN, spf=SpfResult.FAIL), NONE, True, None),  # the PTR matches
    (dataclasses.replace(CLEAN, requester_domain_match=False), NONE, True, None),  # SPF passes
    (
        dataclasses.replace(CLEAN, requester_domain_match=False, spf=SpfResult.SOFTFAIL),
        NONE,
        False,
        "neither matches the PTR nor passes SPF",
    ),
    (dataclasses.replace(CLEAN, fcrdns=Verdict.FAIL), NONE, False, "no forward-confirmed PTR"),
    (dataclasses.replace(CLEAN, fcrdns=Verdict.UNKNOWN), NONE, False, "no forward-confirmed"),
    (
        dataclasses.replace(CLEAN, dnsbl=(Listing("bl.test", "127.0.0.2"),)),
        NONE,
        False,
        "a configured zone lists it",
    ),
    (dataclasses.replace(CLEAN, dnsbl_checked=False), NONE, False, "one did not answer"),
    (CLEAN, policy.History(requests=(days_ago(30),)), False, "asked about before"),
    (CLEAN, policy.History(requests=(days_ago(91),)), True, None),
    (CLEAN, policy.History(denials=(days_ago(89),)), False, "was denied within 90 days"),
    (CLEAN, policy.History(denials=(days_ago(120),)), True, None),
    (Evidence(), NONE, False, "no forward-confirmed PTR"),  # every lookup failed
]


@pytest.mark.parametrize(("evidence", "history", "approved", "why_not"), TABLE)
def test_the_policy_table(
    evidence: Evidence, history: policy.History, approved: bool, why_not: str | None
) -> None:
    found = policy.suggest(evidence, history, NOW)
    assert (found.action is policy.Suggested.APPROVE) is approved
    if approved:
        assert found.rule == "first_clean_request" and len(found.reasons) == 5
    else:
        assert found.rule is None and any(why_not in r for r in found.reasons), found.reasons


REQUEST = Extraction(
    message_id="<req@goodmail.test>",
    sender="pm@goodmail.test",
    subject="help",
    ndr_code="5.7.511",
    ip="81.2.69.10",
    evidence="550 5.7.511 ...",
)


def test_a_policy_approval_is_final_until_a_reviewer_denies_it() -> None:
    opened = cases.open_case(1, REQUEST, NOW)
    approved = cases.approve_by_policy(opened, "first_clean_request", NOW)
    case = approved.case
    assert approved.delist and [n.kind for n in approved.notices] == ["delisted"]
    assert (case.status, case.decided_by, case.policy_rule) == (
        CaseStatus.DELISTED,
        "policy",
        "first_clean_request",
    )
    case = cases.add_event(case, "policy", "blocklist", "removed 81.2.69.10/32", NOW)
    assert cases.apply_command(case, Command("approve", ""), "rev@x", NOW).applied is False
    overturned = cases.apply_command(case, Command("deny", "not theirs"), "rev@x", NOW)
    assert overturned.case.status is CaseStatus.DENIED and overturned.relist
    assert overturned.case.decided_by is None
    assert [n.kind for n in overturned.notices] == ["denied"]
    # Once denied, it is a reviewer's decision like any other: no second overturn.
    again = cases.apply_command(overturned.case, Command("deny", ""), "rev@x", NOW)
    assert again.applied is False


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("policy", {"mode": "yes"}, 'policy.mode must be one of "off", "suggest", "auto"'),
        ("evidence", {"nameservers": ["dns.example"]}, "evidence.nameservers: 'dns.example'"),
        ("evidence", {"nameservers": ["127.0.0.1:99999"]}, "evidence.nameservers"),
        ("evidence", {"timeout_seconds": 0}, "evidence.timeout_seconds must be more than 0"),
        ("evidence", {"rdap_url": "ftp://x/"}, "evidence.rdap_url must start with https://"),
        ("evidence", {"dnsbl_zones": "zen.spamhaus.org"}, "evidence.dnsbl_zones must be a list"),
    ],
)
def test_a_bad_evidence_or_policy_key_is_one_line_naming_it(
    section: str, values: dict, message: str
) -> None:
    settings = {
        "mailbox": {"kind": "maildir", "path": "m"},
        "smtp": {"kind": "files", "path": "o", "from_address": "d@x.example"},
        section: values,
    }
    with pytest.raises(ConfigError) as raised:
        from_dict(settings, {})
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_an_ip_read_from_a_screenshot_is_never_approved_by_a_rule() -> None:
    found = policy.suggest(CLEAN, NONE, NOW, read_by_ocr=True)
    assert (found.action, found.rule, found.reasons) == (
        policy.Suggested.REVIEW,
        None,
        (policy.OCR_REASON,),
    )
    assert policy.suggest(CLEAN, NONE, NOW).action is policy.Suggested.APPROVE
