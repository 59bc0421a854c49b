"""`delist-bot cases`: list, show and decide review cases from the terminal.

A decision here is the same transition as a reviewer's email; its mail goes out with the
worker's next outbox run.
"""

from __future__ import annotations

import getpass
from typing import Any

import click

from delist_bot.cli.app import (
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    print_json,
    shown,
)
from delist_bot.core.dates import when
from delist_bot.core.models import Case, CaseStatus
from delist_bot.core.review import COMMANDS
from delist_bot.services import cases as services

STATUSES = [s.value for s in CaseStatus]


@cli.group()
def cases() -> None:
    """Review cases: list, show, decide."""


@cases.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), help="Only cases in this state.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_cases(config_path: str | None, status: str | None, as_json: bool) -> None:
    """The cases, newest first."""
    with one_line_errors():
        found = services.list_cases(load_config(config_path), status)
    if as_json:
        print_json([show_doc(c) for c in found])
        return
    if not found:
        click.echo("no cases" + (f" with status {status}" if status else ""))
        return
    click.echo(f"{'ID':<10} {'STATUS':<18} {'IP':<26} {'DUE':<21} {'ASSIGNEE':<20} REQUESTER")
    for case in found:
        click.echo(
            f"{case.id:<10} {case.status.value:<18} {case.ip:<26} {when(case.due_at):<21} "
            f"{shown(case.assignee or '-'):<20} {shown(case.requester)}"
        )


@cases.command("show")
@config_option
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@click.option("--raw", is_flag=True, help="The request's bytes as they came, nothing else.")
def show_case(config_path: str | None, case_id: str, as_json: bool, raw: bool) -> None:
    """One case with its whole history."""
    with one_line_errors():
        config = load_config(config_path)
        case = services.find(config, case_id)
        request = services.request_bytes(config, case) if raw else None
    if request is not None:
        click.echo(request, nl=False)  # bytes: written as they are
        return
    if as_json:
        print_json(show_doc(case))
        return
    for label, value in (
        ("Case", case.id + (f" (reopens {case.linked_case})" if case.linked_case else "")),
        ("Status", case.status.value),
        ("IP", case.ip),
        ("Code", case.ndr_code),
        ("NDR line", case.evidence),
        ("Requester", case.requester),
        ("Language", case.language or "-"),
        ("Assignee", case.assignee or "-"),
        ("Received", when(case.received_at)),
        ("Due", when(case.due_at)),
        ("First contact", when(case.first_contact_at) if case.first_contact_at else "-"),
        ("Decided", when(case.decided_at) if case.decided_at else "-"),
        ("Decided by", _decided_by(case)),
    ):
        click.echo(f"{label + ':':<15}{shown(value)}")
    _echo_evidence(case)
    click.echo("\nHistory:")
    for event in case.events:
        text = f": {event.text}" if event.text else ""
        click.echo(f"  {when(event.at)}  {shown(event.actor):<28} {event.kind}{shown(text)}")


@cases.command("decide")
@config_option
@click.argument("case_id")
@click.argument("word", type=click.Choice(COMMANDS))
@click.option("--message", default="", help="The text for the sender (or the note).")
@click.option("--reviewer", default=None, help="Who decides (default: your login name).")
def decide(
    config_path: str | None, case_id: str, word: str, message: str, reviewer: str | None
) -> None:
    """Decide a case as a reviewer's email would."""
    actor = reviewer or f"{getpass.getuser()} (terminal)"
    with one_line_errors():
        config = load_config(config_path)
        updated, mails = services.decide(config, case_id, word, message, actor, now_utc())
    click.echo(f"{updated.id}: {word} by {actor}; status {updated.status.value}")
    for mail in mails:
        click.echo(f"  queued {mail.kind} to {mail.to} (the worker sends it)")


def show_doc(case: Case) -> dict[str, Any]:
    """The case as `cases show --json` (and `cases list --json`) gives it."""
    return services.case_doc(case, _decided_by(case) if case.decided_at else None)


def _decided_by(case: Case) -> str:
    if case.decided_by == "policy":
        return f"policy ({case.policy_rule})"
    return "people" if case.decided_at else "-"


def _echo_evidence(case: Case) -> None:
    found = case.findings
    if found:
        rdap = found.get("rdap")
        listed = "; ".join(f"{x['zone']} {x['code']} {x['txt']}".strip() for x in found["dnsbl"])
        click.echo("\nEvidence:")
        for label, value in (
            ("PTR", found["ptr"] or "none"),
            ("fcrdns", found["fcrdns"]),
            ("Domain match", _yes_no(found["requester_domain_match"])),
            ("SPF", found["spf"]),
            ("Block lists", listed or ("none" if found.get("dnsbl_checked") else "unknown")),
            (
                "RDAP",
                f"{rdap['name']} ({rdap['handle']}), {rdap['range']}, "
                f"abuse: {', '.join(rdap['abuse']) or '-'}"
                if rdap
                else "unknown",
            ),
        ):
            click.echo(f"  {label + ':':<15}{value}")
    if case.suggestion:
        rule = case.suggestion.get("rule")
        click.echo(
            f"\nSuggestion:      {case.suggestion['action']}" + (f" ({rule})" if rule else "")
        )
        for reason in case.suggestion["reasons"]:
            click.echo(f"  - {reason}")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"
