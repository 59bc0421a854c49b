"""Poison messages (issue 18): no one mail stops the bot from serving everyone else, then or later.

Each candidate (expected.tsv here, and every sample of tests/hostile/) goes to a real Dovecot, then
three ordinary requests with a `delist-bot run --once` after each, then a pass 2 days later (every
deadline of the candidate's case is due), one at day 3 (a reviewer closes every case) and one at
day 11 (the archive step runs over the cases decided 8 days before). The trials run side by side,
each with its own mailbox, store and SMTP server; each test checks one trial.
"""

from __future__ import annotations

import os
import queue
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from enum import StrEnum
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from delist_bot.core.models import OPEN_STATUSES, QuarantineRecord
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, TESTS, imap_settings, read_tsv
from tests.support.imap_helpers import count, deliver
from tests.support.servers import Dovecot, Recorder, SmtpServer, free_port
from tests.support.zygote import Zygote
from tests.system.test_review_imap import OPERATOR, REVIEWER, reviewer_reply
from tests.system.test_store_disk import big_request
from tests.system.test_worker_imap import _write_toml

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
HOSTILE = TESTS / "hostile"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REQUEST = DATA_SAMPLES / "01-review-attached-en.eml"
ORDINARY = tuple(f"ordinary{n}@mail.example.org" for n in range(1, 4))
GENERATED = {"latin1-8.5mb.eml": lambda: big_request(8_500_000)}  # too big to keep as a file
HANDLED = {
    "replied",
    "ignored",
    "rate_limited",
    "not_listed",
    "added_to_case",
    "reopened",
    "applied",
}
REFUSED = {"quarantined", "rejected", "not_applied"}  # each only with its reason


class Delivery(StrEnum):
    REQUEST = "request"  # delivered as it is
    REPLY = "reply"  # answers a case the trial opens first: its notification or acknowledgement


class Smtp(StrEnum):
    PLAIN = "plain"
    SMTPUTF8 = "smtputf8"  # the server offers SMTPUTF8


@dataclass(frozen=True)
class Candidate:
    file: str  # under samples/, or hostile/<area>/<name>.eml, or a GENERATED name
    delivery: Delivery
    smtp: Smtp
    attacks: str
    fixed_on: str = ""  # the branch whose fix this waits for

    @property
    def name(self) -> str:
        return self.file.removesuffix(".eml") + ("" if self.smtp is Smtp.PLAIN else "-smtputf8")

    def raw(self, thread: dict[bytes, str]) -> bytes:
        """The candidate's bytes, a reply's placeholders filled in (see `thread`)."""
        if self.file in GENERATED:
            return GENERATED[self.file]()
        path = TESTS / self.file if self.file.startswith("hostile/") else SAMPLES / self.file
        raw = path.read_bytes()
        for placeholder, value in thread.items():
            raw = raw.replace(placeholder, value.encode())
        return raw


def candidates() -> list:
    rows = [
        Candidate(r["file"], Delivery(r["delivery"]), Smtp(r["smtp"]), r["attacks"], r["fixed_on"])
        for r in read_tsv(HERE / "expected.tsv")
    ]
    rows += [  # the other helpers' hostile corpus, delivered as requests; none yet is fine
        Candidate(p.relative_to(TESTS).as_posix(), Delivery.REQUEST, Smtp.PLAIN, "hostile corpus")
        for p in sorted(HOSTILE.glob("**/*.eml"))
    ]
    return [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.xfail(reason=f"fixed on branch {c.fixed_on}", strict=False)]
            if c.fixed_on
            else [],
        )
        for c in rows
    ]


@dataclass(frozen=True)
class Pass:
    at: datetime
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reason: str

    @property
    def accounted(self) -> bool:
        """Answered (or rightly not), or refused with its reason."""
        return self.outcome in HANDLED or (self.outcome in REFUSED and bool(self.reason))


@dataclass
class Trial:
    """What one candidate's run left: each pass, every mail sent, the mailbox and the store."""

    passes: list[Pass] = field(default_factory=list)
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (RCPT TO, action)
    inbox: int = -1
    verdict: Verdict | None = None  # what became of the candidate
    unsent: list[str] = field(default_factory=list)  # mail neither sent nor failed with a reason
    unarchived: list[str] = field(default_factory=list)  # cases decided a week before, still hot


def start_smtp(smtp: Smtp) -> SmtpServer:
    recorder, port = Recorder(), free_port()
    options = {"enable_SMTPUTF8": True} if smtp is Smtp.SMTPUTF8 else {}
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return SmtpServer(recorder, controller, port)


def ordinary_request(n: int) -> bytes:
    return (
        REQUEST.read_bytes()
        .replace(b"<sample-001@", b"<ordinary%d@" % n)
        .replace(b"mario@mail.example.org", ORDINARY[n - 1].encode())
        .replace(b"81.2.69.142", b"81.2.69.%d" % (150 + n))
    )


def mails(smtp: SmtpServer, kind: str) -> list[Message]:
    return [m for _, m in smtp.recorder.messages if m["X-Delist-Bot-Action"] == kind]


def thread(smtp: SmtpServer) -> dict[bytes, str]:
    """What a reply sample fills in: the case's notification to the reviewers (a reviewer's
    answer) and its acknowledgement to the requester (the requester's answer)."""
    (notification, *_), (acknowledgement, *_) = (
        mails(smtp, "reviewer_notification"),
        mails(smtp, "review"),
    )
    return {
        b"@@SUBJECT@@": notification["Subject"],
        b"@@MESSAGE_ID@@": notification["Message-ID"],
        b"@@ACK_SUBJECT@@": acknowledgement["Subject"],
        b"@@ACK_MESSAGE_ID@@": acknowledgement["Message-ID"],
        b"@@REVIEWER@@": REVIEWER,
    }


def leftovers(store: Path) -> tuple[list[str], list[str]]:
    """Mail still waiting days later (a courier that stopped; a failure must say why), and the
    decided cases the archive step did not take a week after their decision."""
    with Store(store).transaction() as tx:
        outbox, cases = tx.outbox.all(), tx.cases.all()
    return [
        f"{m.kind} to {m.to!r}: {m.status} {m.last_error or ''}"
        for m in outbox
        if m.status != "sent" and not (m.status == "failed" and m.last_error)
    ], [c.id for c in cases if c.status not in OPEN_STATUSES]


def close(notification: Message) -> bytes:
    return reviewer_reply(notification, "close", subject="Re: " + notification["Subject"])


def verdict(store: Path, uid: str) -> Verdict | None:
    """The candidate's recorded outcome and reason, or its quarantine and why."""
    handle = Store(store)
    with handle.transaction() as tx:
        quarantined = tx.quarantine.all()
    archived = [QuarantineRecord.from_doc(d) for d in handle.archive.records("quarantine")]
    for record in quarantined + archived:
        if record.uid == uid:
            return Verdict("quarantined", record.reason or "")
    for record in handle.archive.records("messages"):
        if record["uid"] == uid:
            return Verdict(record["outcome"], record["reason"] or "")
    return None


def run_trial(
    candidate: Candidate, dovecot: Dovecot, user: str, folder: Path, zygotes: queue.Queue[Zygote]
) -> Trial:
    trial, smtp = Trial(), start_smtp(candidate.smtp)
    settings = imap_settings(
        dovecot,
        user,
        smtp,
        folder / "store.json",
        mailbox={"max_message_bytes": 20_000_000},
        review={"reviewers": [REVIEWER], "operators": [OPERATOR], "secret": "poison-secret"},
    )
    config = str(_write_toml(folder, settings))

    zygote = zygotes.get()

    def run_pass(at: datetime) -> None:
        result = zygote.run("run", "--once", "--now", at.isoformat(), "--config", config)
        trial.passes.append(Pass(at, *result))

    try:
        fill, uid = {}, "1"
        if candidate.delivery is Delivery.REPLY:
            deliver(dovecot, user, [REQUEST.read_bytes()])
            run_pass(T0 - timedelta(minutes=10))
            fill, uid = thread(smtp), "2"
        deliver(dovecot, user, [candidate.raw(fill)])
        run_pass(T0)
        for n in range(1, 4):
            deliver(dovecot, user, [ordinary_request(n)])
            run_pass(T0 + timedelta(minutes=n))
        run_pass(T0 + timedelta(days=2))  # reminder, escalation and holding: all due
        # A reviewer closes every case so far (the candidate's too): decided at day 3, archived
        # by the pass 8 days after that.
        deliver(dovecot, user, [close(n) for n in mails(smtp, "reviewer_notification")])
        for days in (3, 11):
            run_pass(T0 + timedelta(days=days))
        trial.sent = Counter(
            (rcpt, str(m["X-Delist-Bot-Action"]))
            for envelope, m in smtp.recorder.messages
            for rcpt in envelope.rcpt_tos
        )
        trial.inbox = count(dovecot, user, "INBOX")
        trial.verdict = verdict(folder / "store.json", uid)
        trial.unsent, trial.unarchived = leftovers(folder / "store.json")
    finally:
        zygotes.put(zygote)
        smtp.stop()
    return trial


@pytest.fixture(scope="module")
def trials(
    request: pytest.FixtureRequest, dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[Trial]]:
    """Every selected candidate's trial, run side by side (each pass is mostly waiting); a trial
    that breaks fails its own test only."""
    chosen = {
        item.callspec.params["candidate"]
        for item in request.session.items
        if "candidate" in getattr(getattr(item, "callspec", None), "params", {})
    }
    jobs = {c: (dovecot.add_user(), tmp_path_factory.mktemp("poison")) for c in chosen}
    workers = 2 * min(2, os.cpu_count() or 1)  # a pass waits on Dovecot and SMTP half its time
    zygotes: queue.Queue[Zygote] = queue.Queue()
    for _ in range(workers):
        zygotes.put(Zygote(tmp_path_factory.mktemp("zygote")))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return {
                c.name: pool.submit(run_trial, c, dovecot, *job, zygotes) for c, job in jobs.items()
            }
    finally:
        while not zygotes.empty():
            zygotes.get().stop()


@pytest.mark.parametrize("candidate", candidates())
def test_one_mail_never_stops_the_bot_serving_everyone_else(
    candidate: Candidate, trials: dict[str, Future[Trial]]
) -> None:
    trial = trials[candidate.name].result()
    for done in trial.passes:
        assert done.returncode == 0, f"pass at {done.at}: {done.stderr or done.stdout}"
        assert "Traceback" not in done.stderr, f"pass at {done.at}:\n{done.stderr}"
    for requester in ORDINARY:
        kinds = {kind: n for (rcpt, kind), n in trial.sent.items() if rcpt == requester}
        assert kinds.get("review") == 1, f"{requester} got {kinds}"
        assert set(kinds.values()) == {1}, f"{requester} got {kinds}"
    assert trial.verdict is not None and trial.verdict.accounted, trial.verdict
    assert trial.unsent == []
    assert trial.unarchived == []
    assert trial.inbox == 0


def test_every_sample_has_a_row_and_every_row_a_sample() -> None:
    rows = [r["file"] for r in read_tsv(HERE / "expected.tsv")]
    assert {p.name for p in SAMPLES.glob("*.eml")} == set(rows) - set(GENERATED)
    assert all(r["file"] and r["attacks"] for r in read_tsv(HERE / "expected.tsv"))
