"""Named places where the crash drill kills the worker: inert unless DELIST_BOT_FAILPOINT is set.

DELIST_BOT_FAILPOINT=name:n kills the process with SIGKILL the n-th time it passes that place,
as a power cut would; tests use it to prove that no such moment loses or repeats anything.
"""

from __future__ import annotations

import os
import signal

_SETTING = os.environ.get("DELIST_BOT_FAILPOINT", "")
_NAME, _, _COUNT = _SETTING.partition(":")
_passes: dict[str, int] = {}


def reach(name: str) -> None:
    if not _SETTING or name != _NAME:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(_COUNT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
