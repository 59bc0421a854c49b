"""Named places where the crash drill kills the worker: inert unless DELIST_BOT_FAILPOINT is set.

DELIST_BOT_FAILPOINT=name:n kills the process with SIGKILL the n-th time it passes that place,
as a power cut would; tests use it to prove that no such moment loses or repeats anything.
A test in the same process can also hold a place (`hold`): the next thread to reach it waits
there until the test releases it, so "while X is going on" is an event, not a sleep.
"""

from __future__ import annotations

import os
import signal
import threading

_SETTING = os.environ.get("DELIST_BOT_FAILPOINT", "")
_NAME, _, _COUNT = _SETTING.partition(":")
_passes: dict[str, int] = {}
_held: dict[str, tuple[threading.Event, threading.Event]] = {}


def hold(name: str) -> tuple[threading.Event, threading.Event]:
    """(reached, release): the next pass through NAME sets reached and waits for release."""
    gate = threading.Event(), threading.Event()
    _held[name] = gate
    return gate


def reach(name: str) -> None:
    if _held and (gate := _held.pop(name, None)) is not None:
        reached, release = gate
        reached.set()
        release.wait()
    if not _SETTING or name != _NAME:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(_COUNT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
