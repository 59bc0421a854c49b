"""Cutting a reviewer's reply stays linear: hostile texts of size n and 2n, timed side by side.

Run: python -m benchmarks.quotes. Prints, per text, the cost of 2n over the cost of n (goal: at
most 3x; a pattern that backtracks would show 4x or far more).
"""

from __future__ import annotations

import statistics
import time

from delist_bot.core.quotes import reviewer_text

TOKEN = "47f652ab67d8371a"
HOSTILE = {
    "one long line": lambda n: "a" * n,
    "a verb again and again": lambda n: "wrote " * (n // 6) + ":",
    "header labels": lambda n: ("From: " * (n // 12) + "\n") * 2,
    "dashes": lambda n: "-" * n,
    "attribution starts": lambda n: ("On 1 wrote" + "x" * 190 + "\n") * (n // 201),
    "newlines": lambda n: "\n" * n,
    "dated lines above quotes": lambda n: "1:\n>\n" * (n // 5),
    "a team address again and again": lambda n: "rev@d.example" * (n // 13) + ":",
}
TEAM = ("rev@d.example", "delist@d.example")
ROUNDS = 5


def _cost(text: str) -> float:
    started = time.perf_counter()
    reviewer_text(text, {TOKEN}, TEAM)
    return time.perf_counter() - started


def main(n: int = 200_000) -> None:
    for name, make in HOSTILE.items():
        small, large = make(n), make(2 * n)
        ratios = [_cost(large) / _cost(small) for _ in range(ROUNDS)]
        print(f"{name:<32} {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
