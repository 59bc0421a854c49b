"""History beside the hot store: append-only JSON-lines files, read only when history is asked for.

Closed cases are sharded by their IP's /24 (or /48) so a dossier reads one small file, and an index
of case ids names each case's shard; message records, sent mail and quarantine records go into one
file per month for the reports. Every file and folder is private to the bot's user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delist_bot.core.blocklist import neighbourhood
from delist_bot.store.codec import utf8
from delist_bot.store.files import bot_folder, open_private, replace_file, write_error

SHARDS = 256
INDEX = "case-ids.txt"  # one line per archived case: "<id> <shard>"


@dataclass(frozen=True)
class Appended:
    """How long each file was before an append: what undoing it truncates back to."""

    sizes: tuple[tuple[Path, int], ...] = ()

    def undo(self) -> None:
        for path, size in self.sizes:
            with contextlib.suppress(OSError):  # nothing better to do: readers skip torn lines
                if size:
                    os.truncate(path, size)
                else:  # a file this append made (an empty index is rebuilt when missing)
                    path.unlink()


class Archive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index = CaseIndex(folder / INDEX)

    # Writing: append and fsync. A failed append is truncated back; a crash can leave a
    # duplicate or a torn last line, and readers skip both (the newest copy of an id wins).
    def append(self, name: str, records: Iterable[dict[str, Any]]) -> Appended:
        return self.append_all({name: list(records)})

    def append_all(self, history: dict[str, list[dict[str, Any]]]) -> Appended:
        """Every record of one commit, or (on an OSError, raised as StoreWriteError) none."""
        by_file: dict[Path, list[str]] = {}
        for name, records in history.items():
            for record in records:
                by_file.setdefault(self._file(name, record), []).append(
                    json.dumps(record, separators=(",", ":"), ensure_ascii=False)
                )
        cases = history.get("cases") or []
        if cases:  # the index first: an id whose shard lacks it reads as not archived
            self._ensure_index()
            lines = [f"{r['id']} {shard(r['ip'])}" for r in cases]
            by_file = {self._index.path: lines, **by_file}
        done: list[tuple[Path, int]] = []
        path = self.folder
        try:
            bot_folder(self.folder)
            for path, lines in by_file.items():  # PATH names the file in the error
                done.append((path, _append_lines(path, lines)))
        except OSError as exc:
            Appended(tuple(done)).undo()
            self._index.reset()
            raise write_error(path, exc) from exc
        return Appended(tuple(done))

    def undo(self, appended: Appended) -> None:
        """Take back APPENDED (its commit failed later)."""
        appended.undo()
        self._index.reset()

    def _file(self, name: str, record: dict[str, Any]) -> Path:
        if name == "cases":
            return self.folder / "cases" / f"{shard(record['ip'])}.jsonl"
        month = str(record.get("received_at") or record.get("created_at") or record.get("at"))[:7]
        return self.folder / name / f"{month}.jsonl"

    def _ensure_index(self) -> None:
        """An archive written before the index existed gets one, built once from its shards."""
        if self._index.path.exists():
            return
        lines = [
            f"{r['id']} {path.stem}"
            for path in sorted((self.folder / "cases").glob("*.jsonl"))
            for r in self._read(path)
        ]
        replace_file(self._index.path, [utf8("".join(f"{line}\n" for line in lines))])
        self._index.reset()

    # Reading.
    def cases_near(self, ip: str) -> list[dict[str, Any]]:
        """Archived cases in the IP's /24 or /48: one shard, not the whole history."""
        network = neighbourhood(ip)
        # A shard holds many networks: lines that do not name this one are not even decoded.
        path = self.folder / "cases" / f"{shard(ip)}.jsonl"
        return [
            r
            for r in self._read(path, containing=network)
            if (r.get("network") or neighbourhood(r["ip"])) == network
        ]

    def case(self, case_id: str) -> dict[str, Any] | None:
        """An archived case by id: one lookup in the index and one shard, whatever the size."""
        if not (self.folder / "cases").is_dir():
            return None
        self._ensure_index()
        where = self._index.shard(case_id)
        if where is None:
            return None
        path = self.folder / "cases" / f"{where}.jsonl"
        found = [r for r in self._read(path, containing=f'"{case_id}"') if r["id"] == case_id]
        return found[-1] if found else None

    def records(self, name: str, since_month: str = "") -> list[dict[str, Any]]:
        """Every record of one kind (newest copy per id), optionally from a month on."""
        files = sorted((self.folder / name).glob("*.jsonl"))
        if since_month and name != "cases":
            files = [f for f in files if f.stem >= since_month]
        unique: dict[str, dict[str, Any]] = {}
        for path in files:
            for record in self._read(path):
                unique[str(record.get("id") or record.get("key") or len(unique))] = record
        return list(unique.values())

    @staticmethod
    def _read(path: Path, containing: str = "") -> Iterator[dict[str, Any]]:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if containing not in line:
                        continue
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash
        except FileNotFoundError:
            return


class CaseIndex:
    """Archived case ids to shards, read from the index file once and then only as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reset()

    def reset(self) -> None:
        self._shards: dict[str, str] = {}
        self._read_to = 0
        self._inode: int | None = None

    def shard(self, case_id: str) -> str | None:
        self._catch_up()
        return self._shards.get(case_id)

    def _catch_up(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                status = os.fstat(handle.fileno())
                if status.st_ino != self._inode or status.st_size < self._read_to:
                    self.reset()  # replaced or taken back: read it again
                    self._inode = status.st_ino
                if status.st_size == self._read_to:
                    return
                handle.seek(self._read_to)
                grown = handle.read(status.st_size - self._read_to)
        except FileNotFoundError:
            self.reset()
            return
        complete = grown[: grown.rfind(b"\n") + 1]  # a torn last line waits for its end
        self._read_to += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            case_id, _, where = line.partition(" ")
            if where:
                self._shards[case_id] = where


def _append_lines(path: Path, lines: list[str]) -> int:
    """Append LINES to PATH with one fsync; the size PATH had before."""
    bot_folder(path.parent)
    handle = open_private(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(handle).st_size
        # A line torn by a crash must not swallow the first new one.
        torn = size > 0 and os.pread(handle, 1, size - 1) != b"\n"
        data = utf8(("\n" if torn else "") + "\n".join(lines) + "\n")
        written = 0
        try:
            while written < len(data):
                written += os.write(handle, data[written:])
            os.fsync(handle)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(handle, size)
                if not size:
                    path.unlink()
            raise
        return size
    finally:
        os.close(handle)


def shard(ip: str) -> str:
    digest = hashlib.blake2b(neighbourhood(ip).encode(), digest_size=2).digest()
    return f"{int.from_bytes(digest, 'big') % SHARDS:02x}"
