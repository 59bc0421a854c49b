"""`delist-bot templates check`: every template rendered the way the worker renders it, with
sample data and StrictUndefined, every branch the code can take; each error names file and line.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from delist_bot.compose import notice_mail, templates
from delist_bot.config import Config, ReviewConfig, SmtpConfig
from delist_bot.core import cases, sla
from delist_bot.core.cases import Notice
from delist_bot.core.models import Audience, Extraction, MailKind, Thread
from delist_bot.core.plan import Reply
from delist_bot.core.settings import Settings
from delist_bot.runtime.ids import fresh_ids

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# The kinds each rendering path can take (core.models.MailKind names them all).
FIRST_REPLIES = (
    MailKind.REVIEW,
    MailKind.DUPLICATE,
    MailKind.NOT_LISTED,
    MailKind.PORTAL,
    MailKind.CONSUMER,
    MailKind.OTHER,
    MailKind.NEED_INFO,
)
DECISION_REPLIES = (
    MailKind.REVIEW,
    MailKind.DELISTED,
    MailKind.DENIED,
    MailKind.INFO_REQUEST,
    MailKind.HOLDING,
)
TEAM_MAIL = {
    MailKind.REVIEWER_REMINDER: Audience.REVIEWERS,
    MailKind.REVIEWER_FOLLOWUP: Audience.REVIEWERS,
    MailKind.REVIEWER_HELP: Audience.REVIEWER,
    MailKind.OPERATOR_ESCALATION: Audience.OPERATORS,
}
INTERNAL = (MailKind.REVIEWER_NOTIFICATION, *TEAM_MAIL)
REQUEST = Extraction(
    message_id="<sample@example.org>",
    sender="ann@example.org",
    subject="Undeliverable: offer",
    ndr_code="5.7.511",
    smtp_code=550,
    ip="81.2.69.142",
    evidence="550 5.7.511 Access denied, banned sender[81.2.69.142].",
    provider_code="S3150",
)
# Each need_info branch, and a request with no code at all.
NEED_INFO = (
    dataclasses.replace(REQUEST, ip=None, ip_placeholder=True),
    dataclasses.replace(REQUEST, ip="10.1.2.3"),
    dataclasses.replace(REQUEST, ip=None),
    dataclasses.replace(REQUEST, ndr_code=None, ip=None),
)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )


@dataclass(frozen=True)
class Listed:
    name: str
    origin: str  # "custom" or "built-in"
    path: str


def languages() -> list[str]:
    """The built-in languages and any an operator's folder adds (replies/<kind>.<xx>.txt)."""
    found = set(templates.LANGUAGES)
    for name in templates.environment().list_templates():
        parts = name.split("/")[-1].split(".")
        if name.startswith("replies/") and len(parts) == 3:
            found.add(parts[1])
    return sorted(found)


def known_names(langs: list[str]) -> set[str]:
    kinds = {*FIRST_REPLIES, *DECISION_REPLIES}
    names = {f"replies/{k}.{lang}.txt" for k in kinds for lang in langs}
    return names | {f"internal/{k}.en.txt" for k in INTERNAL} | {"report.html"}


def listing(override: Path | None) -> list[Listed]:
    """Every template the worker can use, and where it comes from."""
    built_in = Path(str(templates.TEMPLATES))
    listed = []
    for name in templates.environment().list_templates():
        custom = override is not None and (override / name).is_file()
        path = (override if custom and override else built_in) / name
        listed.append(Listed(name, "custom" if custom else "built-in", str(path)))
    return listed


def check(override: Path | None) -> list[Problem]:
    """Every problem in the templates now in use (the operator's and the built-in ones)."""
    langs = languages()
    problems = [
        Problem(str(override / name), None, "not a template delist-bot uses (a typo?)")
        for name in sorted(_custom_names(override))
        if name not in known_names(langs)
    ]
    for render in _renderings(langs):
        problem = _attempt(render)
        if problem is not None and problem not in problems:
            problems.append(problem)
    return problems


def _custom_names(override: Path | None) -> set[str]:
    if override is None:
        return set()
    return {
        p.relative_to(override).as_posix()
        for p in override.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def _renderings(langs: list[str]) -> Iterator[Callable[[], object]]:
    settings = _settings()
    case = cases.open_case(1, REQUEST, NOW - timedelta(hours=30))
    for lang in langs:
        for kind in FIRST_REPLIES:
            for request in NEED_INFO if kind is MailKind.NEED_INFO else (REQUEST,):
                has_case = kind in (MailKind.REVIEW, MailKind.DUPLICATE)
                yield _first_reply(kind, lang, request, case if has_case else None, settings)
        for kind in DECISION_REPLIES:
            for text in ("", "Please describe the mail this server sends."):
                extra = {"hours": sla.PROMISE_HOURS} if kind is MailKind.REVIEW else None
                with_lang = dataclasses.replace(case, language=lang)
                yield lambda k=kind, c=with_lang, t=text, e=extra: notice_mail.sender_mail(
                    k, c, t, settings, NOW, e, new_ids=fresh_ids
                )
    dossier = notice_mail.Dossier(
        "81.2.69.0/24", "not listed", ("2026-01-02 by r",), 1, ("DL-1",), 1
    )
    for words in ("", "Please remove us.\nThanks"):
        yield lambda w=words: notice_mail.review_request(
            case, w, dossier, None, settings, NOW, new_ids=fresh_ids
        )
        read = dataclasses.replace(case, source="ocr")  # "read from a screenshot"
        yield lambda w=words, c=read: notice_mail.review_request(
            c, w, dossier, None, settings, NOW, new_ids=fresh_ids
        )
        for kind, audience in TEAM_MAIL.items():
            notice = Notice(kind, audience, words)
            yield lambda n=notice: notice_mail.team_mail(
                n, case, settings, NOW, "rev@example.net", new_ids=fresh_ids
            )
    yield lambda: _report(case)


def _first_reply(
    kind: MailKind, lang: str, request: Extraction, case: cases.Case | None, settings: Settings
) -> Callable[[], object]:
    thread = Thread("ann@example.org", "Undeliverable: offer", request.message_id)
    reply = Reply(kind, lang, thread)
    return lambda: notice_mail.request_reply(request, reply, case, settings, NOW, new_ids=fresh_ids)


def _report(case: cases.Case) -> str:
    from delist_bot.reports.figures import QueueData, build_report
    from delist_bot.reports.views import as_html

    report = build_report(QueueData([case]), NOW, NOW - timedelta(days=7))
    return as_html(report, [(case.id, 12.0)])


def _settings() -> Settings:
    from delist_bot.runtime.wiring import settings_for

    config = Config(
        smtp=SmtpConfig(from_address="delist@example.net"),
        review=ReviewConfig(reviewers=["rev@example.net"], operators=["ops@example.net"]),
    )
    return settings_for(config, "sample secret")


def _attempt(render: Callable[[], object]) -> Problem | None:
    try:
        render()
    except templates.TemplateSyntaxError as exc:
        return Problem(exc.filename or exc.name or "?", exc.lineno, exc.message or str(exc))
    except templates.TemplateNotFound as exc:
        return Problem(str(exc.name), None, "template not found")
    except Exception as exc:  # an error inside a template: find its line in the traceback
        return _from_traceback(exc)
    return None


def _from_traceback(exc: Exception) -> Problem:
    message = f"{type(exc).__name__}: {exc}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py"):  # jinja2 rewrites frames to the template's
            return Problem(frame.filename, frame.lineno, message)
    return Problem("?", None, message)
