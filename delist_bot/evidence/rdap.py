"""The network that holds an IP, from RDAP (RFC 9083) over urllib: untrusted JSON, so a size
limit, a timeout, and at most one redirect, to a regional registry's RDAP host (RIPE sends
questions about other regions' addresses on to their registry)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from delist_bot.core.evidence import Network

MAX_BYTES = 256 * 1024
MAX_ENTITIES = 50  # entities looked at, nested ones included
MAX_FIELD = 200
# The regional registries' RDAP hosts (IANA's bootstrap file names these five).
REGISTRIES = frozenset(
    {
        "rdap.db.ripe.net",
        "rdap.arin.net",
        "rdap.apnic.net",
        "rdap.lacnic.net",
        "rdap.afrinic.net",
    }
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back as an HTTPError; lookup() decides whether to follow it


_OPENER = urllib.request.build_opener(_NoRedirect)


def lookup(base_url: str, ip: str, timeout: float) -> Network | None:
    """The network of IP from BASE_URL + IP; None when it cannot be had (whatever the reason)."""
    url = base_url + urllib.parse.quote(ip, safe="")
    allowed = REGISTRIES | {urllib.parse.urlsplit(base_url).hostname or ""}
    for _hop in range(2):
        try:
            with _OPENER.open(_request(url), timeout=timeout) as response:
                body = response.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            target = exc.headers.get("Location") if 300 <= exc.code < 400 else None
            url = urllib.parse.urljoin(url, target or "")
            if not target or urllib.parse.urlsplit(url).hostname not in allowed:
                return None
            if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
                return None
            continue
        except (OSError, ValueError):
            return None
        return None if len(body) > MAX_BYTES else parse(body)
    return None


def _request(url: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"Accept": "application/rdap+json"})


def parse(body: bytes) -> Network | None:
    """RFC 9083's IP network object: name, handle, range, country, abuse contacts' e-mail."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("objectClassName") != "ip network":
        return None
    start, end = _text(doc.get("startAddress")), _text(doc.get("endAddress"))
    cidrs = [
        f"{_text(c.get('v4prefix') or c.get('v6prefix'))}/{_text(c.get('length'))}"
        for c in _list(doc.get("cidr0_cidrs"))[:10]
        if isinstance(c, dict)
    ]
    return Network(
        name=_text(doc.get("name")),
        handle=_text(doc.get("handle")),
        range=", ".join(cidrs) if cidrs else (f"{start} - {end}" if start else ""),
        country=_text(doc.get("country")),
        abuse=tuple(dict.fromkeys(_abuse_emails(doc))),
    )


def _abuse_emails(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []
    pending = [e for e in _list(doc.get("entities")) if isinstance(e, dict)]
    seen = 0
    while pending and seen < MAX_ENTITIES:
        entity = pending.pop(0)
        seen += 1
        if "abuse" in _list(entity.get("roles")):
            found += _emails(entity.get("vcardArray"))
        pending += [e for e in _list(entity.get("entities")) if isinstance(e, dict)]
    return found[:5]


def _emails(vcard: Any) -> list[str]:
    """jCard (RFC 7095): ["vcard", [["email", {}, "text", "abuse@example.net"], ...]]."""
    properties = _list(vcard)[1] if len(_list(vcard)) > 1 else []
    return [
        _text(p[3])
        for p in _list(properties)
        if isinstance(p, list) and len(p) > 3 and p[0] == "email" and "@" in _text(p[3])
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return ""
    return " ".join(str(value).split())[:MAX_FIELD]
