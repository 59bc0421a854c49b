"""A process that has imported delist-bot and forks one child per command line it is given.

Each child is a fresh `delist-bot ARGS...` process (same entry point, argv, exit status and
stderr, a traceback printed as the interpreter prints one) without paying the interpreter's start
and the imports again: the poison suite runs over 200 passes, the fast lane some eighty commands.
Protocol: one JSON line in (args, stdout and stderr file paths, and the caller's environment,
folder and umask, which a child started by the caller would inherit), one line out (the exit
status). Single-threaded, so forking is safe. `test_poison.py` checks a child against a process
of its own.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

CHILD_SECONDS = 300


def child(request: dict) -> None:
    """In the forked child: become `delist-bot ARGS`, then exit without returning."""
    import delist_bot.cli

    code = 1
    signal.alarm(int(request.get("timeout") or CHILD_SECONDS))  # a hang is killed, not waited on
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        if "cwd" in request:
            os.chdir(request["cwd"])
        if "env" in request:
            os.environ.clear()
            os.environ.update(request["env"])
        if "umask" in request:
            os.umask(request["umask"])
        sys.argv = ["delist-bot", *request["args"]]
        try:
            delist_bot.cli.main()
            code = 0
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def preload() -> None:
    """Every module of the package, so that no command imports anything in its child (the
    commands import their heavy modules when called)."""
    import delist_bot

    for info in pkgutil.walk_packages(delist_bot.__path__, "delist_bot."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def serve() -> None:
    preload()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


class Zygote:
    """The client: `delist-bot` command lines run in children forked from one process that
    imported it once (a pass costs its own work, not the interpreter's start and the imports).
    One command at a time; safe to share between threads."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="delist-zygote-"))
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.runs = 0
        self._lock = threading.Lock()

    def run(
        self, *args: str, timeout: float | None = None, inherit: bool = False
    ) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `delist-bot ARGS`; with INHERIT, run in this
        process's folder, environment and umask, as a child of this process would be."""
        with self._lock:
            self.runs += 1
            out, err = (self.folder / f"{self.runs}.{name}" for name in ("out", "err"))
            request: dict = {"args": list(args), "stdout": str(out), "stderr": str(err)}
            if timeout is not None:
                request["timeout"] = max(1, round(timeout))
            if inherit:
                umask = os.umask(0o077)
                os.umask(umask)
                request |= {"env": dict(os.environ), "cwd": os.getcwd(), "umask": umask}
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            status = self.process.stdout.readline()
            assert status, f"the zygote died running {args}"
            try:
                return int(status), out.read_text(errors="replace"), err.read_text(errors="replace")
            finally:
                out.unlink(missing_ok=True)
                err.unlink(missing_ok=True)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    del sys.path[0]  # this folder: its helpers must not shadow what delist-bot imports
    serve()
