"""Addresses the bot writes to, in the one form SMTP and a mail header can carry.

Pure: `wire` turns any address string (the requester's, a reviewer's, our own) into an
RFC 5321 mailbox with an IDNA (punycode) domain, or says in one line why it cannot be sent to.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

import idna

MAX_LOCAL_OCTETS = 64  # RFC 5321, 4.5.3.1.1
MAX_DOMAIN_OCTETS = 255  # RFC 5321, 4.5.3.1.2
MAX_PATH_OCTETS = 254  # a reverse- or forward-path is 256 octets with its angle brackets

# RFC 5322 atext; RFC 6531 adds every non-ASCII character (controls and spaces are refused
# before this is tried).
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
# RFC 5321 Quoted-string: printable ASCII (and, with SMTPUTF8, any non-ASCII) except " and \,
# or a backslash pair.
_QUOTED = re.compile(r'"(?:[ !#-\[\]-~\u0080-\U0010ffff]|\\[ -~])*"')
_ASCII_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class AddressError(ValueError):
    """An address no SMTP server can be given; the message is the reason, on one line."""


@dataclass(frozen=True)
class Address:
    """A mailbox as SMTP carries it: the local part as written (quoted if it was), the
    domain in ASCII (A-labels, or an address literal)."""

    local: str
    domain: str

    @property
    def smtp(self) -> str:
        """For MAIL FROM, RCPT TO and the To header (the same form in all three)."""
        return f"{self.local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """A Unicode local part cannot be converted: only a server offering SMTPUTF8 takes it
        (RFC 6531), and the message's headers then carry it as UTF-8 (RFC 6532)."""
        return not self.local.isascii()


def wire(address: str) -> Address:
    """ADDRESS (an addr-spec, as the extractor and the configuration give it) made fit for
    SMTP; AddressError says why it cannot be. Never anything else, whatever the string."""
    if not isinstance(address, str) or not address.strip():
        raise AddressError("no address")
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    shown = _shown(text)
    if any(_unprintable(c) for c in text):
        raise AddressError(f"address {shown} holds a control, space or unassigned character")
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise AddressError(f"address {shown} has no local part and domain")
    local = unicodedata.normalize("NFC", local)
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED.fullmatch(local)):
        raise AddressError(f"address {shown}: the local part is not a dot-atom or quoted string")
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise AddressError(f"address {shown}: the local part is over {MAX_LOCAL_OCTETS} octets")
    result = Address(local, _domain(domain, shown))
    if len(result.smtp.encode("utf-8")) > MAX_PATH_OCTETS:
        raise AddressError(f"address {shown} is over {MAX_PATH_OCTETS} octets")
    return result


def header_form(address: str) -> str | None:
    """The address for a To or From header: the SMTP form (its domain in A-labels, a Unicode
    local part as UTF-8), or None when it cannot be sent to at all."""
    try:
        return wire(address).smtp
    except AddressError:
        return None


def a_labels(domain: str) -> str:
    """DOMAIN in ASCII (IDNA 2008 with UTS 46's mapping), so that two spellings of one domain
    compare equal; as written when it has no such form."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain


def _domain(domain: str, shown: str) -> str:
    if domain.startswith("[") and domain.endswith("]"):
        return _literal(domain, shown)
    domain = domain.removesuffix(".")
    if not domain:
        raise AddressError(f"address {shown} has no domain")
    if domain.isascii():
        labels = domain.split(".")
        if not all(_ASCII_LABEL.fullmatch(label) for label in labels):
            raise AddressError(f"address {shown}: the domain is not a host name")
        ascii_domain = domain
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise AddressError(
                f"address {shown}: the domain is not a valid internationalised name ({exc})"
            ) from None
    if len(ascii_domain) > MAX_DOMAIN_OCTETS:
        raise AddressError(f"address {shown}: the domain is over {MAX_DOMAIN_OCTETS} octets")
    return ascii_domain


def _literal(domain: str, shown: str) -> str:
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return f"[IPv6:{ipaddress.IPv6Address(inner[5:]).compressed}]"
        return f"[{ipaddress.IPv4Address(inner)}]"
    except ValueError:
        raise AddressError(f"address {shown}: {domain} is not an address literal") from None


def _unprintable(char: str) -> bool:
    # Cc controls (CR, LF, NUL: a second SMTP command), Cs lone surrogates (not text at all),
    # Zs/Zl/Zp spaces and Cf format characters (invisible), Cn unassigned.
    return unicodedata.category(char) in ("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Cn") and char != " "


def _shown(text: str) -> str:
    """The address as a log line may show it: escaped, cut, never a second line."""
    cut = text if len(text) <= 80 else text[:77] + "..."
    return ascii(cut)[1:-1] if not cut.isprintable() else cut
