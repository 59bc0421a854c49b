"""A process that has imported delist-bot and forks one child per command line it is given.

Each child is a fresh `delist-bot ARGS...` process (same entry point, argv, exit status and
stderr, a traceback printed as the interpreter prints one) without paying the imports again: the
poison suite runs over 200 passes. Protocol: one JSON line in (args, stdout and stderr file
paths), one line out (the exit status). Single-threaded, so forking is safe.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback

import delist_bot.cli
import delist_bot.services.run  # `run` imports it when called: once here instead

CHILD_SECONDS = 300


def child(args: list[str], out: str, err: str) -> None:
    """In the forked child: become `delist-bot ARGS`, then exit without returning."""
    code = 1
    signal.alarm(CHILD_SECONDS)  # a pass that hangs is killed (SIGALRM), never waited on forever
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.argv = ["delist-bot", *args]
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


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request["args"], request["stdout"], request["stderr"])
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    serve()
