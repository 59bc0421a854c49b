"""History beside the hot store: append-only JSON-lines files, read only when history is asked for.

Closed cases are sharded by their IP's /24 (or /48) so a dossier reads one small file; message
records, sent mail and quarantine records go into one file per month for the reports.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from delist_bot.blocklist import neighbourhood

SHARDS = 256


class Archive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # Writing: append and fsync; a crash can leave a duplicate or a torn last line, and
    # readers skip both (the newest copy of an id wins).
    def append(self, name: str, records: Iterable[dict[str, Any]]) -> None:
        by_file: dict[Path, list[str]] = {}
        for record in records:
            by_file.setdefault(self._file(name, record), []).append(
                json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            )
        for path, lines in by_file.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
                handle.flush()
                os.fsync(handle.fileno())

    def _file(self, name: str, record: dict[str, Any]) -> Path:
        if name == "cases":
            return self.folder / "cases" / f"{shard(record['ip'])}.jsonl"
        month = str(record.get("received_at") or record.get("created_at") or record.get("at"))[:7]
        return self.folder / name / f"{month}.jsonl"

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
        return next((r for r in self.records("cases") if r["id"] == case_id), None)

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
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if containing not in line:
                        continue
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash
        except FileNotFoundError:
            return


def shard(ip: str) -> str:
    digest = hashlib.blake2b(neighbourhood(ip).encode(), digest_size=2).digest()
    return f"{int.from_bytes(digest, 'big') % SHARDS:02x}"
