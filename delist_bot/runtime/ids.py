"""The random ids of each mail the bot sends: outbox id, Message-ID and MIME boundary.

The one module that draws them; compose/ takes this maker (compose.ids.IdMaker) as an argument.
"""

from __future__ import annotations

import uuid
from email.utils import make_msgid

from delist_bot.compose.ids import MailIds


def fresh_ids(idstring: str, domain: str) -> MailIds:
    """New ids for one mail; IDSTRING (a case id, a kind) goes into its Message-ID."""
    return MailIds(uuid.uuid4().hex, make_msgid(idstring=idstring, domain=domain), _boundary())


def _boundary() -> str:
    return f"=_delist_{uuid.uuid4().hex}"
