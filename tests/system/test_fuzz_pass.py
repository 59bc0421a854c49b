"""A few hundred hostile messages through the whole pass (the long run: python -m tests.support.fuzz_pass)."""

from tests.support.fuzz_pass import run


def test_hostile_mail_through_the_whole_pass() -> None:
    outcomes = run(320, seed=7)
    assert (
        outcomes.get("quarantined", 0) > 0
        and outcomes.get("ignored", 0)
        + outcomes.get("replied", 0)
        + outcomes.get("rate_limited", 0)
        > 0
    )
