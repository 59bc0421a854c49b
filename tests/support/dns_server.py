"""A real DNS server for the evidence tests: NSD on a loopback port, serving test zones (reverse
zones too) from a temporary folder; and a UDP socket that never answers, for timeouts.

Zones are given as {origin: [record lines]}; each gets an SOA and an NS of its own.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

NSD_CONF = """\
server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{root}"
  database: ""
  pidfile: "{root}/nsd.pid"
  logfile: "{root}/nsd.log"
  xfrdfile: "{root}/xfrd.state"
  zonelistfile: "{root}/zone.list"
  xfrdir: "{root}"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
"""
ZONE_HEAD = """\
$ORIGIN {origin}.
$TTL 300
@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60
@ IN NS ns.{origin}.
ns IN A 127.0.0.1
"""


def have_nsd() -> bool:
    return shutil.which("nsd") is not None or Path("/usr/sbin/nsd").exists()


@dataclass
class DnsServer:
    root: Path
    zones: dict[str, list[str]]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        conf = NSD_CONF.format(port=self.port, root=self.root)
        for origin, records in self.zones.items():
            name = f"{origin}.zone"
            (self.root / name).write_text(
                ZONE_HEAD.format(origin=origin) + "\n".join(records) + "\n"
            )
            conf += f'zone:\n  name: "{origin}"\n  zonefile: "{name}"\n'
        (self.root / "nsd.conf").write_text(conf)
        binary = shutil.which("nsd") or "/usr/sbin/nsd"
        self.process = subprocess.Popen(
            [binary, "-d", "-c", str(self.root / "nsd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_for_answers()

    def _wait_for_answers(self, timeout: float = 15.0) -> None:
        """Until the SOA of the first zone comes back (NSD reads its zones after binding)."""
        from delist_bot.evidence.dns import Resolver, Status

        origin = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = (self.root / "nsd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nsd exited: {log}")
            if Resolver([self.address], 0.5).query(origin, "SOA").status is Status.OK:
                return
            time.sleep(0.05)
        raise RuntimeError(f"nsd does not answer on {self.address}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextlib.contextmanager
def silent_server():
    """A UDP port where every query is read and none is answered (and TCP refuses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
