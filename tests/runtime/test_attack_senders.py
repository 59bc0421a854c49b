"""A stranger's attacks through the mail the bot reads, each built on purpose, end to end.

Real Dovecot and aiosmtpd (SMTPUTF8 offered); what reaches a victim is counted at the SMTP server
by RCPT TO. The samples are made here, since each needs many spellings of one thing.
"""

from __future__ import annotations

import email
import email.policy
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from email.message import Message
from itertools import product
from pathlib import Path

import pytest

from delist_bot import failpoints
from delist_bot.config import Config, from_dict, load
from delist_bot.core.budget import Recipient, same_mailbox
from delist_bot.runtime import intake as intake_module
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from delist_bot.store.files import locked
from tests.conftest import DATA_SAMPLES, imap_settings
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.support.smtp_helpers import run_cli, write_toml

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REVIEWER = "rev@delist.example.net"
COPIES = 20


@pytest.fixture
def config(dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path) -> Config:
    settings = imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "store.json",
        review={"reviewers": [REVIEWER], "secret": "test-secret"},
    )
    return from_dict(settings, {})


def request(
    n: int,
    reply_to: str,
    body: str = "Please help, our mail bounces.",
    sender: str = "Spammer <attacker@evil.example>",
) -> bytes:
    """A request From SENDER whose reply goes to REPLY_TO (raw UTF-8 where it is Unicode)."""
    return (
        f"From: {sender}\r\n"
        "To: delist@delist.example.net\r\n"
        "Subject: Cheap pills, 90% off\r\n"
        "Date: Fri, 27 Nov 2026 09:30:00 +0000\r\n"
        f"Message-ID: <attack-{n}@evil.example>\r\n"
        f"Reply-To: {reply_to}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def _normal_forms(local: str) -> list[str]:
    """Every mix of composed and decomposed letters: one mailbox, as SMTPUTF8 carries it."""
    forms = [(c, unicodedata.normalize("NFD", c)) for c in local]
    return ["".join(mix) for mix in product(*forms)]


def _dotted(local: str) -> list[str]:
    """Dots anywhere in the local part: Gmail (and every domain Google hosts) ignores them."""
    spots = len(local) - 1
    return [
        "".join(c + ("." if mask >> i & 1 else "") for i, c in enumerate(local))
        for mask in range(2**spots)
    ]


# Each: spellings of ONE mailbox (and who it is); the bot must send it at most
# replies_per_sender mails (3) however many of them it is asked to write to.
SPELLINGS = {
    "unicode-normal-forms": [f"{v}@target.example" for v in _normal_forms("jüöäë")],
    "gmail-dots": [f"{v}@{d}" for v in _dotted("victim") for d in ("gmail.com", "googlemail.com")],
    "percent-hack": [f"victim%target.example@relay{n}.example" for n in range(COPIES)],
    "bang-path": [f"target.example!victim@relay{n}.example" for n in range(COPIES)],
    "mixed-routing": [
        f"Victim+{n}%TARGET.example@relay{n}.example" if n % 2 else f"target.example!v.ictim@r{n}.x"
        for n in range(COPIES)
    ],
}


@pytest.mark.parametrize("spellings", SPELLINGS.values(), ids=list(SPELLINGS))
def test_spellings_of_one_mailbox_share_its_budget(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config, spellings: list
) -> None:
    assert len(spellings) >= COPIES
    deliver(dovecot, imap_user, [request(n, s) for n, s in enumerate(spellings[:COPIES])])
    report = Worker(config).run_once(T0)

    assert len(report.processed) == COPIES
    received = [rcpt for envelope, _ in smtp_server.recorder.messages for rcpt in envelope.rcpt_tos]
    assert len(received) == 3, received  # every one of them reaches the one victim
    assert sum(p.outcome == "rate_limited" for p in report.processed) == COPIES - 3


@pytest.mark.parametrize(
    ("one", "other", "budget", "speaks"),
    [
        ("jürgen@b.example", unicodedata.normalize("NFD", "JÜRGEN") + "@b.example", True, True),
        ("victim@gmail.com", "v.i.ctim+x@googlemail.com", True, False),
        ("victim@target.example", "victim%target.example@relay.example", True, False),
        ("victim@target.example", "target.example!victim@relay.example", True, False),
        ("victim@target.example", "relay.example!victim%target.example@r.example", True, False),
        ("victim+1@target.example", "VICTIM@target.example.", True, True),
        ("john.smith@corp.example", "johnsmith@corp.example", True, False),
        ("victim@target.example", "victim@other.example", False, False),
        ("victim@target.example", "victim2@target.example", False, False),
    ],
)
def test_the_budget_merges_every_route_to_a_mailbox_but_only_one_speaks_for_it(
    one: str, other: str, budget: bool, speaks: bool
) -> None:
    """The budget errs on the strict side (two people may share one); who speaks for a case
    must not: at Outlook, j.ohn@ is not john@."""
    assert (Recipient.of(one).key == Recipient.of(other).key) is budget
    assert same_mailbox(one, other) is speaks


def maildir_config(folder: Path, **sections: dict) -> Path:
    """A Maildir, a `files` outbox and a store in FOLDER: a whole installation, in-process."""
    for sub in ("new", "cur", "tmp"):
        (folder / "mail" / sub).mkdir(parents=True, exist_ok=True)
    return write_toml(
        folder / "delist-bot.toml",
        {
            "mailbox": {"kind": "maildir", "path": "mail"},
            "smtp": {"kind": "files", "path": "outbox", "from_address": "delist@d.example"},
            "store": {"path": "store.json"},
            "review": {"reviewers": [REVIEWER], "secret": "test-secret"},
            **sections,
        },
    )


def drop(folder: Path, n: int, raw: bytes) -> None:
    """Delivered at T0 (a Maildir's file name starts with its delivery time)."""
    (folder / "mail" / "new" / f"{int(T0.timestamp())}.M{n}P1.test").write_bytes(raw)


ESCAPES = "\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\x1b[H\x9b31m\u202e"  # clipboard, clear, C1, bidi


def test_a_strangers_escape_sequences_never_reach_the_operators_terminal(tmp_path: Path) -> None:
    """A request's NDR line (the case's evidence) and its requester's follow-up are shown by
    `cases show`: terminal control sequences in them come out as visible escapes."""
    config = str(maildir_config(tmp_path))
    ndr = (
        "550 5.7.511 Access denied, banned sender[81.2.69.142]. To request removal "
        f"{ESCAPES} from this list forward this message to delist@microsoft.com."
    )
    drop(tmp_path, 1, request(1, "mario@mail.example.org", f"Hello.\r\n\r\n{ndr}"))
    first = run_cli("run", "--once", "--config", config, "--now", T0.isoformat())
    assert first.exit_code == 0, first.output
    mario = "mario@mail.example.org"
    follow_up = request(2, mario, f"Any news? {ESCAPES} thanks", sender=mario)
    drop(tmp_path, 2, follow_up.replace(b"Subject: ", b"Subject: Re: [DL-000001] "))
    later = (T0 + timedelta(hours=1)).isoformat()
    assert run_cli("run", "--once", "--config", config, "--now", later).exit_code == 0

    shown = run_cli("cases", "show", "DL-000001", "--config", config)
    listed = run_cli("cases", "list", "--config", config)
    assert shown.exit_code == 0 and "follow_up: Any news?" in shown.output
    for output in (shown.output, listed.output):
        assert not any(c in output for c in "\x1b\x07\x9b\u202e"), ascii(output)
    assert shown.output.count(r"\x1b]52;c;") == 2  # the evidence and the follow-up, visible


def outbox(folder: Path) -> list[Message]:
    return [
        email.message_from_bytes(p.read_bytes()) for p in sorted((folder / "outbox").glob("*.eml"))
    ]


def test_a_strangers_message_ids_never_reach_the_requester(tmp_path: Path) -> None:
    """A stranger's request for the same IP joins the case as a duplicate; the requester's
    later mail (the holding reply) threads on their own messages and ours, never on the
    stranger's Message-ID (text of the stranger's choosing), and no header carries a control
    character from one."""
    config = str(maildir_config(tmp_path))
    drop(tmp_path, 1, (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes())  # mario
    assert run_cli("run", "--once", "--config", config, "--now", T0.isoformat()).exit_code == 0
    ndr = "550 5.7.511 Access denied, banned sender[81.2.69.142]. To request removal forward."
    for n, mid in enumerate(
        ("<Call-555-0100-for-a-faster-delisting@evil.example>", "<a\x00\x07b@x>")
    ):
        raw = request(n, "stranger@evil.example", ndr).replace(
            f"<attack-{n}@evil.example>".encode(), mid.encode()
        )
        drop(tmp_path, 10 + n, raw)
    assert run_cli("run", "--once", "--config", config, "--now", T0.isoformat()).exit_code == 0
    later = (T0 + timedelta(hours=47)).isoformat()
    ran = run_cli("run", "--once", "--config", config, "--now", later)
    assert ran.exit_code == 0 and not ran.traceback, ran.output

    mails = outbox(tmp_path)
    [holding] = [m for m in mails if m["X-Delist-Bot-Action"] == "holding"]
    assert holding["To"] == "mario@mail.example.org"
    assert "evil.example" not in str(holding) and "<a" not in holding["References"]
    for mail in mails:
        head = mail.as_bytes().partition(b"\n\n")[0]
        assert not any(c in head for c in b"\x00\x07"), head


def test_a_message_the_extractor_raises_on_is_quarantined_with_its_own_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The extractor never raises for bad input; should a bug make it, that one message is
    quarantined with the bug's own words and the rest of its group answered as usual. (A
    mock: no input makes the extractor raise for real.)"""
    config = from_dict(
        {
            "mailbox": {"kind": "maildir", "path": str(tmp_path / "mail")},
            "smtp": {"kind": "files", "path": str(tmp_path / "outbox"), "from_address": "d@d.ex"},
            "store": {"path": str(tmp_path / "store.json")},
        },
        {},
    )
    maildir_config(tmp_path)
    for n in range(3):
        drop(tmp_path, n, request(n, f"user{n}@shop{n}.example", "help" if n != 1 else "BOOM"))
    real = intake_module.extract

    def extract(raw: bytes):
        if b"BOOM" in raw:
            raise RuntimeError("a bug in the extractor")
        return real(raw)

    monkeypatch.setattr(intake_module, "extract", extract)
    report = Worker(config).run_once(T0)
    outcomes = sorted((p.outcome, p.reason) for p in report.processed)
    assert outcomes == [
        ("quarantined", "internal error: RuntimeError: a bug in the extractor"),
        ("replied", ""),
        ("replied", ""),
    ]
    with Store(tmp_path / "store.json").transaction() as tx:
        [record] = tx.quarantine.all()
    assert record.reason == "internal error: RuntimeError: a bug in the extractor"


def ndr_for(ip: str) -> str:
    return (
        "Our mail bounces:\r\n\r\n"
        f"550 5.7.511 Access denied, banned sender[{ip}]. To request removal from this list "
        "forward this message to delist@microsoft.com.\r\n"
    )


def pass_at(config: Path, moment: datetime) -> None:
    ran = run_cli("run", "--once", "--config", str(config), "--now", moment.isoformat())
    assert ran.exit_code == 0 and not ran.traceback, ran.output


@pytest.mark.xfail(
    strict=True,
    reason="the domain budget counts mail a stranger aimed at made-up addresses: replies_per_domain "
    "forged Reply-To's at one provider shut every honest requester there out for a day (no case, "
    "no reviewer). Fix: the budget limits what we send, never whether a request is reviewed",
)
def test_strangers_cannot_shut_out_everyone_at_one_mail_provider(tmp_path: Path) -> None:
    """Five requests (replies_per_domain here) with Reply-To made-up addresses at gmail.com;
    then an honest Gmail user's real 5.7.511 request: it must still be reviewed."""
    config = maildir_config(tmp_path, limits={"replies_per_domain": 5})
    for n in range(5):
        drop(tmp_path, n, request(n, f"made.up.{n}@gmail.com"))
    drop(tmp_path, 9, request(9, "honest.admin@gmail.com", ndr_for("81.2.69.142")))
    pass_at(config, T0)

    with Store(tmp_path / "store.json").transaction() as tx:
        assert [c.requester for c in tx.cases.all()] == ["honest.admin@gmail.com"]


@pytest.mark.xfail(
    strict=True,
    reason="nothing bounds the reviewers' mail: each request from a fresh address for a fresh "
    "IP opens a case, and each case costs a notification, a reminder and an operator "
    "escalation. Fix: at most REVIEWER_MAILS_PER_HOUR team mails an hour, the rest of the "
    "new cases in one batched notification (and reminders likewise)",
)
def test_a_stranger_cannot_flood_the_reviewers(tmp_path: Path) -> None:
    """60 requests, each from an address of its own at a domain of its own and for an IP of
    its own (an attacker's every request is a real-looking one), over one hour."""
    config = maildir_config(tmp_path, review={"reviewers": [REVIEWER], "operators": [REVIEWER]})
    for n in range(60):
        drop(tmp_path, n, request(n, f"admin@shop{n}.example", ndr_for(f"81.2.{n}.9")))
    pass_at(config, T0)
    pass_at(config, T0 + timedelta(hours=41))

    team = [m for m in outbox(tmp_path) if m["X-Delist-Bot-Action"].startswith(("reviewer_", "op"))]
    assert len(team) <= 2 * 20  # two hours' worth at 20 an hour


@pytest.mark.xfail(
    strict=True,
    reason="every message keeps its key (a Message-ID of up to 250 characters of the sender's "
    "choosing) in the hot store for 3 days, and a quarantined one a record for 30: about 700 bytes "
    "a message, rewritten at every commit, so a stranger's rate sets the store's size. Fix: keep "
    "a short digest of the key, and at most a bounded number of quarantine records hot",
)
def test_a_flood_of_unanswerable_mail_does_not_grow_the_hot_store(tmp_path: Path) -> None:
    """1,000 messages with no address to answer (two From addresses), each with a long
    Message-ID of its own: all quarantined, and the hot store stays small."""
    config = maildir_config(tmp_path)
    long_id = "q" * 240
    for n in range(1000):
        raw = (
            "From: a@b.example, c@d.example\r\nSubject: x\r\n"
            f"Message-ID: <{long_id}{n}@evil.example>\r\n\r\nhello\r\n"
        )
        drop(tmp_path, n, raw.encode())
    pass_at(config, T0)
    assert (tmp_path / "store.json").stat().st_size < 200_000


def decoded(mail: Message) -> str:
    """Every header and text part of MAIL as a reader sees it (encoded words decoded)."""
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    texts = [f"{k}: {v}" for k, v in parsed.items()]
    texts += [p.get_content() for p in parsed.walk() if p.get_content_maintype() == "text"]
    return "\n".join(texts)


def _invisible(text: str) -> list[str]:
    return [ascii(c) for c in text if unicodedata.category(c) in ("Cf", "Co", "Cn")]


@pytest.mark.parametrize(
    "headers",
    [
        # Shown right to left after U+202E: "admin@microsoft.example..." to a reviewer's eye.
        {"sender": "Support <admin\u202eelpmaxe.tfosorcim@evil.example>"},
        # A reviewer's address with a zero-width space: looks like the reviewer's own.
        {"sender": "x@evil.example", "reply_to": "rev\u200b@delist.example.net"},
    ],
    ids=["bidi-override-from", "zero-width-reply-to"],
)
def test_an_address_with_invisible_characters_is_no_address(tmp_path: Path, headers: dict) -> None:
    """No mail, to a reviewer or anyone, shows a requester address with characters that make
    it look like another; the request is answered at a visible address or quarantined."""
    config = maildir_config(tmp_path)
    reply_to = headers.get("reply_to", "")
    raw = request(1, reply_to or "x", ndr_for("81.2.69.142"), sender=headers["sender"])
    if not reply_to:
        raw = raw.replace(b"Reply-To: x\r\n", b"")
    drop(tmp_path, 1, raw)
    pass_at(config, T0)

    for mail in outbox(tmp_path):
        assert not _invisible(decoded(mail)), mail["X-Delist-Bot-Action"]
    with Store(tmp_path / "store.json").transaction() as tx:
        assert all(not _invisible(c.requester) for c in tx.cases.all())


def test_a_reply_aimed_at_a_third_party_carries_no_chain_of_the_strangers_ids(
    tmp_path: Path,
) -> None:
    """Reply-To a victim, with References of 15 Message-IDs of advertising text: the victim's
    reply threads on the one request (its In-Reply-To and References), nothing more."""
    config = maildir_config(tmp_path)
    refs = " ".join(f"<call-555-{n}-for-cheap-loans@scam.example>" for n in range(15))
    raw = request(1, "victim@target.example").replace(
        b"MIME-Version", f"References: {refs}\r\nMIME-Version".encode()
    )
    drop(tmp_path, 1, raw)
    pass_at(config, T0)

    [reply] = outbox(tmp_path)
    assert reply["To"] == "victim@target.example"
    assert reply["In-Reply-To"] == reply["References"] == "<attack-1@evil.example>"
    assert "scam.example" not in reply.as_string()


@pytest.mark.xfail(
    strict=True,
    reason="a new case's notification is rendered, and its request and mail spooled, inside the "
    "store transaction: 12 requests of 9 MB on one line (the notification carries each as a "
    "base64 .eml) held the lock 6.1 s in one commit here. Fix: render and spool before the lock "
    "(the spool names are unique; a failed commit removes them), numbering cases from a "
    "reservation",
)
def test_the_store_is_not_locked_while_a_notification_is_written(tmp_path: Path) -> None:
    """Held (by a failpoint, an event, not a sleep) while the reviewers' notification of a
    new case is being made: the store's lock is free for `cases list` and `status`."""
    config = maildir_config(tmp_path)
    drop(tmp_path, 1, request(1, "admin@shop.example", ndr_for("81.2.69.142")))
    worker = Worker(load(str(config)))
    reached, release = failpoints.hold("notify")
    passing = threading.Thread(target=worker.run_once, args=(T0,))
    passing.start()
    try:
        assert reached.wait(60), "the pass never came to the notification"
        with locked(tmp_path / "store.json.lock", blocking=False):
            pass
    finally:
        release.set()
        passing.join(60)
    assert not passing.is_alive()
