"""The ids a new mail needs: its outbox id, Message-ID and MIME boundary, as values.

Pure: the builders take an IdMaker from their caller; the random one is runtime/ids.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MailIds:
    mail_id: str  # the outbox record's
    message_id: str
    boundary: str  # random, so no content can hold it (the generator's own check costs a regex)


# (idstring, domain) -> the ids of one mail; IDSTRING (a case id, a kind) goes in its Message-ID.
IdMaker = Callable[[str, str], MailIds]
