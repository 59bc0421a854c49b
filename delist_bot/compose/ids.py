"""The ids a new mail needs: its outbox id, Message-ID and MIME boundary.

The one place in compose/ that draws random ids; builders take them from their caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.utils import make_msgid


@dataclass(frozen=True)
class MailIds:
    mail_id: str  # the outbox record's
    message_id: str
    boundary: str  # random, so no content can hold it (the generator's own check costs a regex)


def fresh_ids(idstring: str, domain: str) -> MailIds:
    """New ids for one mail; IDSTRING (a case id, a kind) goes into its Message-ID."""
    return MailIds(uuid.uuid4().hex, make_msgid(idstring=idstring, domain=domain), _boundary())


def _boundary() -> str:
    return f"=_delist_{uuid.uuid4().hex}"
