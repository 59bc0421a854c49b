"""The report's renderings: terminal (rich or plain), HTML with charts, CSV, JSON, Prometheus.

Sections are built once from the figures; every rendering formats the same sections.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from delist_bot.compose.templates import render
from delist_bot.reports.charts import Line, Series, bar_chart


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    empty: str = "none"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return str(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def sections(report: dict[str, Any]) -> list[Section]:
    open_, contact, cases = report["open"], report["contact"], report["cases"]
    return [
        Section("Open cases by age", ("age", "cases"), list(open_["by_age"].items())),
        Section("Open cases by state", ("state", "cases"), list(open_["by_status"].items())),
        Section(
            "Closest to the 48-hour deadline",
            ("case", "ip", "state", "reviewer", "due", "hours left"),
            [
                (
                    c["id"],
                    c["ip"],
                    c["status"],
                    c["assignee"] or "-",
                    c["due_at"][:16],
                    c["hours_left"],
                )
                for c in report["closest_to_deadline"]
            ],
            "no case awaits contact",
        ),
        Section(
            "Breaches of the promise",
            ("figure", "value"),
            [
                ("in the period", report["breaches"]["count"]),
                ("cases", ", ".join(report["breaches"]["cases"]) or "-"),
                ("overdue now", ", ".join(report["breaches"]["overdue_now"]) or "-"),
            ],
        ),
        Section(
            "Requests by action",
            ("action", "requests"),
            [(a, n) for a, n in report["requests"]["by_action"].items()]
            + [("total", report["requests"]["total"])]
            + [("of which rate-limited", report["requests"]["rate_limited"])],
        ),
        Section(
            "Cases",
            ("figure", "value"),
            [
                ("opened", cases["opened"]),
                ("decided", cases["decided"]),
                *((f"outcome: {k}", v) for k, v in cases["outcomes"].items()),
                *(
                    row
                    for who, figures in cases["by_decider"].items()
                    for row in (
                        (f"decided by {who}", figures["decisions"]),
                        (f"decided by {who}, median hours", figures["median_hours"]),
                    )
                ),
            ],
        ),
        Section(
            "Time to contact and decision",
            ("figure", "value"),
            [
                ("cases opened", contact["cases"]),
                ("contacted", contact["contacted"]),
                ("contacted within 48 h", _share(contact["within_48h_share"])),
                ("first contact, median hours", contact["first_contact_hours"]["median"]),
                ("first contact, 90th percentile hours", contact["first_contact_hours"]["p90"]),
                ("decision, median hours", contact["decision_hours"]["median"]),
                ("decision, 90th percentile hours", contact["decision_hours"]["p90"]),
            ],
        ),
        Section(
            "Outgoing mail",
            ("state", "count"),
            [
                ("pending", report["outbox"]["pending"]),
                ("failed", report["outbox"]["failed"]),
                ("sent", report["outbox"]["sent"]),
            ],
        ),
        Section(
            "Failed mail",
            ("to", "kind", "error"),
            [(f["to"], f["kind"], f["error"]) for f in report["outbox"]["failures"]],
        ),
        Section(
            "Quarantined messages",
            ("when", "message", "reason"),
            [(q["at"][:16], q["uid"], q["reason"]) for q in report["quarantine"]["recent"]],
        ),
        Section(
            "IPs with repeated requests",
            ("ip", "requests"),
            [(r["ip"], r["requests"]) for r in report["repeats"]["ips"]],
        ),
        Section(
            "Networks with repeated requests",
            ("network", "requests"),
            [(r["network"], r["requests"]) for r in report["repeats"]["networks"]],
        ),
        Section(
            "Reviewers",
            ("reviewer", "open cases assigned", "decisions"),
            [(r["reviewer"], r["assigned_open"], r["decisions"]) for r in report["reviewers"]],
        ),
    ]


def header(report: dict[str, Any]) -> str:
    period = report["period"]
    return f"delist-bot queue report, {period['since'][:16]} to {period['until'][:16]} UTC"


def plain(report: dict[str, Any]) -> str:
    lines = [header(report), ""]
    for section in sections(report):
        lines.append(section.title)
        if not section.rows:
            lines += [f"  {section.empty}", ""]
            continue
        cells = [[_fmt(v) for v in row] for row in section.rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(section.columns)]
        lines.append(
            "  "
            + "  ".join(c.ljust(w) for c, w in zip(section.columns, widths, strict=True)).rstrip()
        )
        for row in cells:
            lines.append(
                "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )
        lines.append("")
    return "\n".join(lines)


def print_rich(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{header(report)}[/bold]")
    for section in sections(report):
        table = Table(title=section.title, title_justify="left", show_edge=False)
        for column in section.columns:
            table.add_column(column)
        for row in section.rows:
            table.add_row(*(_fmt(v) for v in row))
        if not section.rows:
            table.add_row(section.empty, *[""] * (len(section.columns) - 1))
        console.print(table)


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def as_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: inert_cell(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, quoted (OWASP's rule): a requester's
    address or a reviewer's words are the sender's text, e.g. `=cmd|' /C calc'!A0@x.example`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def as_prometheus(report: dict[str, Any]) -> str:
    """Gauges for a node-exporter textfile collector."""
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, samples: list[tuple[str, float | None]]) -> None:
        lines.extend([f"# HELP delist_bot_{name} {text}", f"# TYPE delist_bot_{name} {kind}"])
        lines.extend(
            f"delist_bot_{name}{labels} {value}" for labels, value in samples if value is not None
        )

    open_, contact = report["open"], report["contact"]
    metric(
        "open_cases",
        "gauge",
        "Open cases by state.",
        [(f'{{status="{s}"}}', n) for s, n in open_["by_status"].items()],
    )
    metric(
        "open_cases_by_age",
        "gauge",
        "Open cases by age bucket.",
        [(f'{{age="{a}"}}', n) for a, n in open_["by_age"].items()],
    )
    metric(
        "oldest_open_case_hours",
        "gauge",
        "Age of the oldest open case.",
        [("", open_["oldest_hours"] or 0)],
    )
    metric(
        "breaches",
        "gauge",
        "Cases that missed the 48-hour promise in the period.",
        [("", report["breaches"]["count"])],
    )
    metric(
        "overdue_cases",
        "gauge",
        "Open cases past the deadline with no contact.",
        [("", len(report["breaches"]["overdue_now"]))],
    )
    metric(
        "requests",
        "gauge",
        "Requests in the period by action.",
        [(f'{{action="{a}"}}', n) for a, n in report["requests"]["by_action"].items()],
    )
    by_decider = report["cases"]["by_decider"]
    metric(
        "decisions",
        "gauge",
        "Decisions in the period by who made them (policy or people).",
        [(f'{{by="{who}"}}', f["decisions"]) for who, f in by_decider.items()],
    )
    metric(
        "decision_median_hours",
        "gauge",
        "Median hours from request to decision, by who made it.",
        [(f'{{by="{who}"}}', f["median_hours"]) for who, f in by_decider.items()],
    )
    metric(
        "contact_within_48h_ratio",
        "gauge",
        "Share of cases contacted within 48 hours.",
        [("", contact["within_48h_share"])],
    )
    metric(
        "first_contact_hours",
        "gauge",
        "Hours to first contact.",
        [
            ('{quantile="0.5"}', contact["first_contact_hours"]["median"]),
            ('{quantile="0.9"}', contact["first_contact_hours"]["p90"]),
        ],
    )
    metric(
        "outbox",
        "gauge",
        "Outgoing mail by state.",
        [(f'{{status="{s}"}}', report["outbox"][s]) for s in ("pending", "failed", "sent")],
    )
    metric(
        "quarantined",
        "gauge",
        "Messages quarantined in the period.",
        [("", report["quarantine"]["count"])],
    )
    return "\n".join(lines) + "\n"


def charts(report: dict[str, Any], contact_points: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Each chart with the text table that says the same for a screen reader."""
    by_age = report["open"]["by_age"]
    days = report["per_day"]
    points = contact_points[-40:]
    return [
        {
            "svg": Markup(
                bar_chart(
                    "Open cases by age",
                    "Number of open cases in each age bucket, in hours since the request.",
                    list(by_age),
                    [Series("open cases", list(by_age.values()))],
                    "age since the request",
                    "open cases",
                )
            ),
            "table": Section("Open cases by age", ("age", "open cases"), list(by_age.items())),
        },
        {
            "svg": Markup(
                bar_chart(
                    "Requests and decisions per day",
                    "Requests received and cases decided on each day.",
                    [d["date"][5:] for d in days],
                    [
                        Series("requests", [d["requests"] for d in days]),
                        Series("decisions", [d["decisions"] for d in days]),
                    ],
                    "day",
                    "count",
                )
            ),
            "table": Section(
                "Requests and decisions per day",
                ("day", "requests", "decisions"),
                [(d["date"], d["requests"], d["decisions"]) for d in days],
            ),
        },
        {
            "svg": Markup(
                bar_chart(
                    "Time to first contact",
                    "Hours from each request to the sender's first contact, "
                    "against the 48-hour promise.",
                    [p[0][3:] for p in points],
                    [Series("hours to first contact", [p[1] for p in points])],
                    "case",
                    "hours",
                    line=Line(48, "48-hour promise"),
                )
            ),
            "table": Section(
                "Time to first contact", ("case", "hours"), points, "no case contacted yet"
            ),
        },
    ]


def as_html(report: dict[str, Any], contact_points: list[tuple[str, float]]) -> str:
    drawn = charts(report, contact_points)
    charted = {chart["table"].title for chart in drawn}
    rest = [s for s in sections(report) if s.title not in charted]
    context = {
        "report": report,
        "title": header(report),
        "charts": drawn,
        "sections": rest,
        "fmt": _fmt,
    }
    return render("report.html", context)
