"""The runtime's dependencies point one way, and the CLI stays a shell over the services.

Read from the source (ast), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import delist_bot

PACKAGE = Path(delist_bot.__file__).parent


def imports(path: Path) -> set[str]:
    """Every module PATH imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def calls(path: Path) -> set[str]:
    """The names of every method PATH calls (`x.transaction()` gives transaction)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


RUNTIME = sorted(p for p in (PACKAGE / "runtime").glob("*.py") if p.name != "scheduler.py")


@pytest.mark.parametrize("path", RUNTIME, ids=lambda p: p.name)
def test_only_the_scheduler_knows_the_scheduler(path: Path) -> None:
    """scheduler -> worker, never back (as in rq): the pass is testable without the loop."""
    assert "delist_bot.runtime.scheduler" not in imports(path)
    assert not any(name.startswith("apscheduler") for name in imports(path))


def test_the_digest_is_pure() -> None:
    """QueueData in, mail out: the service loads the queue."""
    assert not any(
        name.startswith("delist_bot.store") for name in imports(PACKAGE / "reports" / "digest.py")
    )


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda p: p.name)
def test_a_command_writes_no_store_itself(path: Path) -> None:
    """A command parses, calls one service, prints: no transaction, no worker, no store."""
    assert "transaction" not in calls(path)
    assert not any(name.startswith("delist_bot.runtime") for name in imports(path))
    # not even to catch StoreError: the errors a command answers in one line are services/errors.py's
    assert not any(name.startswith("delist_bot.store") for name in imports(path))
