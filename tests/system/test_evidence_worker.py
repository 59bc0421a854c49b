"""Evidence and policy end to end: requests in a real Dovecot, replies at a real SMTP server,
DNS from a real NSD, RDAP from a real HTTP server, through `delist-bot run --once`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from delist_bot.config import from_dict
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import delist_bot, imap_settings
from tests.support.builder import microsoft_511
from tests.support.dns_server import DnsServer, have_nsd, silent_server
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_review_imap import reviewer_reply
from tests.system.test_worker_imap import NOW, _write_toml

pytestmark = pytest.mark.skipif(not have_nsd(), reason="NSD is not installed")


AUTHSERV = "mx.delist.example.net"


def request(sender: str, ip: str, n: int, vouched: bool = True) -> bytes:
    """A request; VOUCHED: our server's Authentication-Results pass its From's domain."""
    domain = sender.rpartition("@")[2]
    results = (
        f"Authentication-Results: {AUTHSERV}; dkim=pass header.d={domain}\n" if vouched else ""
    )
    return (
        f"{results}From: Postmaster <{sender}>\nTo: delist@delist.example.net\n"
        f"Subject: Please delist our server {n}\nMessage-ID: <req-{n}@requests.test>\n"
        "Date: Fri, 27 Nov 2026 08:00:00 +0000\n\nHello, our mail bounces:\n\n"
        f"Remote Server returned '{microsoft_511(ip)}'\n\nThanks\n"
    ).encode()


def settings(dovecot, user, smtp, tmp_path, nameserver: str, rdap: str, mode: str) -> dict:
    values = imap_settings(
        dovecot,
        user,
        smtp,
        tmp_path / "store.json",
        evidence={
            "nameservers": [nameserver],
            "dnsbl_zones": ["bl.test"],
            "rdap_url": rdap,
            "timeout_seconds": 2,
        },
        policy={"mode": mode},
    )
    values["review"]["authserv_id"] = AUTHSERV
    return values


def kinds(smtp: SmtpServer) -> Counter:
    return Counter(m["X-Delist-Bot-Action"] for _, m in smtp.recorder.messages)


def test_auto_mode_delists_a_clear_request_in_the_pass_that_reads_it(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    config = _write_toml(
        tmp_path,
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "auto"),
    )
    assert delist_bot("blocklist", "add", "81.2.69.10", "--config", str(config)).returncode == 0
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 1)])
    ran = delist_bot("run", "--once", "--config", str(config), "--now", "2026-11-27T09:00:00Z")
    assert ran.returncode == 0, ran.stderr
    assert kinds(smtp_server) == Counter({"delisted": 1, "reviewer_notification": 1})
    fyi = next(m for _, m in smtp_server.recorder.messages if m["To"].startswith("reviewer"))
    assert "Delisted by policy" in fyi["Subject"]
    body = fyi.get_payload(0).get_payload(decode=True).decode()
    assert "first_clean_request" in body and "mail.goodmail.test" in body
    checked = delist_bot("blocklist", "check", "81.2.69.10", "--config", str(config))
    assert checked.returncode == 1  # off the list

    shown = json.loads(
        delist_bot("cases", "show", "DL-000001", "--json", "--config", str(config)).stdout
    )
    assert shown["status"] == "delisted"
    assert shown["decided_by"] == "policy (first_clean_request)"
    assert shown["policy_rule"] == "first_clean_request"
    evidence = shown["evidence"]
    assert (evidence["ptr"], evidence["fcrdns"], evidence["spf"]) == (
        "mail.goodmail.test",
        "pass",
        "pass",
    )
    assert evidence["requester_domain_match"] is True and evidence["dnsbl"] == []
    assert evidence["rdap"]["abuse"] == ["abuse@goodmail.test"]
    assert shown["suggestion"]["action"] == "approve"
    assert "5.7.511" in shown["ndr_line"]

    report = delist_bot("report", "--format", "json", "--config", str(config))
    by_decider = json.loads(report.stdout)["cases"]["by_decider"]
    assert (by_decider["policy"]["decisions"], by_decider["people"]["decisions"]) == (1, 0)

    # A reviewer overturns it: the sender hears "denied" and the IP is listed again.
    denied = delist_bot(
        "cases", "decide", "DL-000001", "deny", "--message", "Not yours.", "--config", str(config)
    )
    assert denied.returncode == 0, denied.stderr
    assert "status denied" in denied.stdout
    assert delist_bot("blocklist", "check", "81.2.69.10", "--config", str(config)).returncode == 0
    text = delist_bot("cases", "show", "DL-000001", "--config", str(config)).stdout
    assert "Evidence:" in text and "fcrdns:" in text and "Suggestion:" in text


REVIEWED = [  # one sender each: a sender's budget is 3 replies a day
    ("pm@goodmail.test", "81.2.69.11", "no forward-confirmed PTR"),  # PTR does not resolve back
    ("it@goodmail.test", "81.2.69.12", "neither matches the PTR nor passes SPF"),  # other domain
    ("ops@goodmail.test", "81.2.69.14", "no forward-confirmed PTR"),  # claims another's PTR
    ("noc@goodmail.test", "81.2.69.13", "a configured zone lists it"),  # in bl.test
]


def test_unclear_requests_are_left_to_reviewers_with_the_reasons(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    config = from_dict(
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "auto"), {}
    )
    deliver(dovecot, imap_user, [request(s, ip, n) for n, (s, ip, _) in enumerate(REVIEWED)])
    Worker(config).run_once(NOW)
    assert kinds(smtp_server) == Counter({"review": 4, "reviewer_notification": 4})
    with Store(Path(config.store.path)).transaction() as tx:
        found = {c.ip: c for c in tx.cases.all()}
    for _, ip, reason in REVIEWED:
        case = found[ip]
        assert case.status.value == "open" and case.decided_by is None
        assert case.suggestion is not None and case.suggestion["action"] == "review"
        assert any(reason in r for r in case.suggestion["reasons"]), case.suggestion


def test_a_clear_request_our_server_did_not_authenticate_waits_for_a_reviewer(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    """Anyone may write From: pm@goodmail.test (or a Reply-To) for an IP whose PTR is in
    goodmail.test: without our server's pass for that domain, no rule approves it."""
    config = from_dict(
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "auto"), {}
    )
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 1, vouched=False)])
    Worker(config).run_once(NOW)
    assert kinds(smtp_server) == Counter({"review": 1, "reviewer_notification": 1})
    with Store(Path(config.store.path)).transaction() as tx:
        [case] = tx.cases.all()
    assert case.suggestion is not None and case.suggestion["action"] == "review"
    assert "may be forged" in case.suggestion["reasons"][0]


def test_a_second_request_for_the_ip_within_90_days_waits_for_a_reviewer(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    config = from_dict(
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "auto"), {}
    )
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 1)])
    Worker(config).run_once(NOW)
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 2)])
    Worker(config).run_once(NOW)
    with Store(Path(config.store.path)).transaction() as tx:
        second = tx.cases.get("DL-000002")
    assert second is not None and second.status.value == "open"
    assert "the IP was asked about before within 90 days" in second.suggestion["reasons"]


def test_dns_that_never_answers_leaves_evidence_unknown_and_the_case_opens_at_once(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path, rdap_url: str
) -> None:
    with silent_server() as address:
        values = settings(dovecot, imap_user, smtp_server, tmp_path, address, "", "auto")
        values["evidence"]["timeout_seconds"] = 0.5
        config = from_dict(values, {})
        deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 1)])
        report = Worker(config).run_once(NOW)
    assert [p.outcome for p in report.processed] == ["replied"]
    assert kinds(smtp_server) == Counter({"review": 1, "reviewer_notification": 1})
    with Store(Path(config.store.path)).transaction() as tx:
        case = tx.cases.get("DL-000001")
    assert case is not None and case.findings is not None
    assert (case.findings["fcrdns"], case.findings["spf"], case.findings["rdap"]) == (
        "unknown",
        "unknown",
        None,
    )
    assert case.suggestion["action"] == "review"


def test_a_reviewer_overturns_a_policy_delisting_by_mail_days_later(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    config = from_dict(
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "auto"), {}
    )
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "81.2.69.10", 1)])
    Worker(config).run_once(NOW)
    [fyi] = [m for _, m in smtp_server.recorder.messages if m["To"].startswith("reviewer")]
    deliver(
        dovecot,
        imap_user,
        [
            reviewer_reply(
                fyi,
                "deny\nThis IP is not theirs.",
                "reviewer@delist.example.net",
                top=(f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=delist.example.net",),
            )
        ],
    )
    Worker(config).run_once(NOW + timedelta(days=3))  # past a decision's 1-hour grace
    assert kinds(smtp_server)["denied"] == 1
    with Store(Path(config.store.path)).transaction() as tx:
        case = tx.cases.get("DL-000001")
        relisted = tx.blocklist.listing_for("81.2.69.10")
    assert case is not None and case.status.value == "denied" and case.decided_by is None
    assert relisted is None  # it was never on our list: nothing to put back


def test_suggest_mode_only_suggests(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    nsd: DnsServer,
    rdap_url: str,
) -> None:
    config = from_dict(
        settings(dovecot, imap_user, smtp_server, tmp_path, nsd.address, rdap_url, "suggest"), {}
    )
    deliver(dovecot, imap_user, [request("pm@goodmail.test", "2a00:1450:4009::10", 1)])
    Worker(config).run_once(NOW)
    assert kinds(smtp_server) == Counter({"review": 1, "reviewer_notification": 1})
    [note] = [m for _, m in smtp_server.recorder.messages if m["To"].startswith("reviewer")]
    body = note.get_payload(0).get_payload(decode=True).decode()
    assert "Suggestion: approve (rule first_clean_request)" in body
    assert "mail6.goodmail.test" in body and "Forward DNS:   pass" in body
