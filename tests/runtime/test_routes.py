"""The route table: every Route has a handler and a one-line description, and each route's
sample message goes to its handler and leaves its outcome on the message's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from delist_bot.core.models import Extraction, Outcome
from delist_bot.core.rules import Route, route
from delist_bot.ndr import extract
from delist_bot.runtime.pipeline import ROUTES, process
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES
from tests.runtime.test_pipeline import SETTINGS, T0, run

REQUEST = (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes()


@dataclass(frozen=True)
class Sample:
    route: Route
    raw: bytes
    action: str | None
    outcome: Outcome
    error: str | None = None  # an extraction that failed (over budget, unreadable)


SAMPLES = (
    # Another request for the IP: it joins DL-000001, and its sender is answered.
    Sample(
        Route.REQUEST,
        REQUEST.replace(b"<sample-001@example.org>", b"<another@example.org>"),
        "review",
        Outcome.REPLIED,
    ),
    Sample(
        Route.QUARANTINE,
        b"From: a@example.org\nSubject: x\n\n.\n",
        None,
        Outcome.QUARANTINED,
        error="over the size limit",
    ),
    Sample(
        Route.IGNORE,
        b"From: a@example.org\nAuto-Submitted: auto-replied\nSubject: away\n\nout\n",
        "ignore",
        Outcome.IGNORED,
    ),
    Sample(
        Route.FOLLOW_UP,
        b"From: mario@mail.example.org\nSubject: Re: Undeliverable [DL-000001]\n"
        b"Message-ID: <more@example.org>\n\nWe also fixed our SPF record.\n",
        "follow_up",
        Outcome.ADDED_TO_CASE,
    ),
    # A reviewer's reply that lost its token: a command, refused for want of it.
    Sample(
        Route.COMMAND,
        b"From: rev@d.example\nSubject: Re: [DL-000001] Review\n"
        b"Message-ID: <cmd@example.org>\n\napprove\n",
        "command",
        Outcome.REJECTED,
    ),
)


def test_every_route_has_a_handler_and_a_one_line_description() -> None:
    assert set(ROUTES) == set(Route)
    handlers = [entry.handler for entry in ROUTES.values()]
    assert len(set(handlers)) == len(handlers)  # no route borrows another's handler
    for entry in ROUTES.values():
        assert entry.description and "\n" not in entry.description


def test_the_samples_cover_every_route() -> None:
    assert {sample.route for sample in SAMPLES} == set(Route)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.route.value)
def test_a_routes_message_reaches_its_handler(sample: Sample, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    run(store, REQUEST, T0)  # DL-000001, for the messages that name it
    extraction: Extraction = extract(sample.raw)
    if sample.error:
        extraction = Extraction(sender="a@example.org", error=sample.error)
    later = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        named = tx.cases.get("DL-000001")
        if sample.route is not Route.REQUEST:
            assert route(extraction, named, (), SETTINGS.reviewers) is sample.route
        result = process(tx, "2", sample.raw, later, SETTINGS, extraction=extraction)
    assert (result.action, result.outcome) == (sample.action, sample.outcome)
    [record] = [m for m in store.history()[1] if m["uid"] == "2"]
    assert record["outcome"] == sample.outcome.value
