"""Policy as data: an ordered table of rules that approve the clear requests, each with its
reasons. Pure: a function of (evidence, history, now); the first rule whose checks all hold wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from delist_bot.core.evidence import Evidence, SpfResult, Verdict

WINDOW = timedelta(days=90)
POLICY = "policy"  # decided_by for a decision a rule made (people's decisions: "people")


class Mode(StrEnum):
    OFF = "off"  # no suggestion
    SUGGEST = "suggest"  # reviewers see the suggestion and decide
    AUTO = "auto"  # an approving rule decides at once; reviewers may overturn with deny


OCR_REASON = "the IP was read from a screenshot (OCR): a reviewer compares it with the image"
UNVOUCHED_REASON = (
    "no Authentication-Results from our server vouch for the requester's address"
    " (review.authserv_id): its domain, and so its PTR and SPF checks, may be forged"
)


class Suggested(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"  # no rule applies: a reviewer decides


@dataclass(frozen=True)
class History:
    """What the store knows about the IP: when earlier requests for it came (other cases), and
    when cases for it or its /24 (/48) were denied."""

    requests: tuple[datetime, ...] = ()
    denials: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    action: Suggested
    rule: str | None  # the rule that applied, None when none did
    reasons: tuple[str, ...]  # why it applies, or why the first rule does not

    def to_doc(self) -> dict[str, object]:
        return {"action": self.action.value, "rule": self.rule, "reasons": list(self.reasons)}


Check = Callable[[Evidence, History, datetime], bool]


@dataclass(frozen=True)
class Rule:
    name: str
    action: Suggested
    checks: tuple[tuple[Check, str, str], ...]  # (holds, reason when it holds, when it does not)


def _recent(times: tuple[datetime, ...], now: datetime) -> int:
    return sum(1 for t in times if now - WINDOW <= t <= now)


RULES: tuple[Rule, ...] = (
    Rule(
        "first_clean_request",
        Suggested.APPROVE,
        (
            (
                lambda e, h, now: _recent(h.requests, now) == 0,
                "first request for the IP in 90 days",
                "the IP was asked about before within 90 days",
            ),
            (
                lambda e, h, now: e.fcrdns is Verdict.PASS,
                "its PTR name resolves back to it",
                "no forward-confirmed PTR",
            ),
            (
                lambda e, h, now: e.requester_domain_match is True or e.spf is SpfResult.PASS,
                "the requester's domain matches the PTR or its SPF passes for the IP",
                "the requester's domain neither matches the PTR nor passes SPF for the IP",
            ),
            (
                lambda e, h, now: e.dnsbl_checked and not e.dnsbl,
                "no configured block list zone lists it",
                "a configured zone lists it, or one did not answer",
            ),
            (
                lambda e, h, now: _recent(h.denials, now) == 0,
                "no case for the IP or its network was denied in 90 days",
                "a case for the IP or its network was denied within 90 days",
            ),
        ),
    ),
)


def suggest(
    evidence: Evidence,
    history: History,
    now: datetime,
    read_by_ocr: bool = False,
    sender_vouched: bool = True,
) -> Suggestion:
    """The first rule whose checks all hold; else review, with what failed the first rule. An
    IP read from a screenshot is never approved by a rule: a person compares it with the image.
    Nor is a request whose address our server did not authenticate: From and Reply-To are the
    sender's word, and the rules judge the IP by that address's domain."""
    if read_by_ocr:
        return Suggestion(Suggested.REVIEW, None, (OCR_REASON,))
    if not sender_vouched:
        return Suggestion(Suggested.REVIEW, None, (UNVOUCHED_REASON,))
    for rule in RULES:
        if all(check(evidence, history, now) for check, _, _ in rule.checks):
            return Suggestion(rule.action, rule.name, tuple(yes for _, yes, _ in rule.checks))
    failed = (no for check, _, no in RULES[0].checks if not check(evidence, history, now))
    return Suggestion(Suggested.REVIEW, None, tuple(failed))
