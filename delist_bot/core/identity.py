"""Who a message is from, as the receiving server and DMARC see it: strict RFC 5322 addresses.

Pure. An address never comes out of an encoded word (RFC 2047 section 5); a raw UTF-8 address
(RFC 6532) is an address. Anything but exactly one mailbox in exactly one header is no address.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email import _header_value_parser as parser
from email import errors

# RFC 5322 allows 998 octets per line; a From header longer than this is no one's address, and
# the stdlib parser's cost grows faster than linearly on long lists ("a,a,a,...").
MAX_ADDRESS_HEADER = 2048
# What the parser may flag and the address still stand: a UTF-8 local part (RFC 6532), and the
# obsolete phrase syntax RFC 5322 section 4 says a reader must accept ("J. Smith <j@x.example>"),
# in the display name only.
_ALLOWED_DEFECTS = (errors.NonASCIILocalPartDefect,)
_ALLOWED_IN_DISPLAY_NAME = (errors.NonASCIILocalPartDefect, errors.ObsoleteHeaderDefect)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# After parsing, the parts must still look like plain RFC 5322 / RFC 6532 text: no encoded word,
# no domain literal, nothing the parser decoded or repaired.
_LOCAL = re.compile(r"[^\s\"(),:;<>@\[\\\]]{1,64}")
# Format characters (bidi overrides, zero-width joiners, soft hyphens, tags), private-use and
# unassigned ones: an address holding one shows as another (to a reviewer, in a terminal) and
# no server takes it (`addresses.wire` refuses it).
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs"})
_LABEL = re.compile(r"[^\W_]|[^\W_][\w-]{0,61}[^\W_]")


@dataclass(frozen=True)
class Identity:
    """One header's reading: the address, or why there is none."""

    address: str | None
    problem: str | None = None


def raw_value(value: object) -> str | None:
    """A header value as it came (compat32 keeps 8-bit bytes as surrogates), unfolded; None
    when it is not UTF-8."""
    text = str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return None
    return _FOLD.sub("", text).strip()


def mailbox(value: str | None) -> Identity:
    """The one address of one header value, parsed strictly."""
    if value is None:
        return Identity(None, "the header is not UTF-8")
    if len(value) > MAX_ADDRESS_HEADER:
        return Identity(None, f"the header is over {MAX_ADDRESS_HEADER} characters")
    if "=?" in _outside_phrase(value):
        return Identity(None, "an address inside an encoded word")
    try:
        found, rest = parser.get_address_list(value)
    # AttributeError: the stdlib's parser trips over its own defect objects on an unclosed
    # domain literal (`admin@[x`), a stranger's one-character typo.
    except (errors.HeaderParseError, IndexError, ValueError, AttributeError):
        return Identity(None, "not an RFC 5322 address")
    if rest:
        return Identity(None, "not an RFC 5322 address")
    if len(found.addresses) != 1 or len(found.all_mailboxes) != 1:
        return Identity(None, f"{len(found.all_mailboxes)} addresses, not one")
    if found.addresses[0][0].token_type == "group":
        return Identity(None, "a group, not one address")
    if _refused_defects(found):
        return Identity(None, "not an RFC 5322 address")
    box = found.all_mailboxes[0]
    local, domain = box.local_part, box.domain
    if box.route or not local or not domain:
        return Identity(None, "not an RFC 5322 address")
    if '"' in str(box.addr_spec):
        return Identity(None, "a quoted local part")
    if not _LOCAL.fullmatch(local):
        return Identity(None, "a local part that is not 1 to 64 plain characters")
    if not _plain_domain(domain):
        return Identity(None, "a domain that is not plain labels (a literal, one label)")
    if any(unicodedata.category(c) in _INVISIBLE for c in local):
        return Identity(None, "an invisible or format character in the local part")
    return Identity(f"{local}@{domain.lower()}")


def sole(values: Iterable[str | None], name: str) -> Identity:
    """Exactly one header NAME holding exactly one address."""
    values = list(values)
    if len(values) != 1:
        return Identity(None, f"{len(values)} {name} headers, not one")
    found = mailbox(values[0])
    return found if found.address else Identity(None, f"{name}: {found.problem}")


def _refused_defects(token: parser.TerminalValue | parser.TokenList) -> bool:
    """Any defect the parser noted that a strict reader must not let pass (iteratively: the
    token tree of a bounded header is small, but recursion is not needed)."""
    stack = [token]
    while stack:
        node = stack.pop()
        allowed = (
            _ALLOWED_IN_DISPLAY_NAME if node.token_type == "display-name" else _ALLOWED_DEFECTS
        )
        if any(not isinstance(d, allowed) for d in node.defects):
            return True
        if isinstance(node, list):
            stack.extend(node)
    return False


def _outside_phrase(value: str) -> str:
    """The addr-spec part of a header: what is between angle brackets, or all of it.
    An encoded word there would be read as an address by a lax reader."""
    start, end = value.rfind("<"), value.rfind(">")
    return value[start:end] if 0 <= start < end else value


def _plain_domain(domain: str) -> bool:
    """Two or more labels of letters, digits and inner hyphens (UTF-8 allowed), no literal."""
    labels = domain.split(".")
    return 2 <= len(labels) <= 127 and all(_LABEL.fullmatch(label) for label in labels)
