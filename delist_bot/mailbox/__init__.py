"""Where requests come from: an IMAP mailbox or a local Maildir, behind one small interface.

Only imap.py imports imapclient and only maildir.py reads a Maildir; both implement base.py's
interface, which callers import from here with open_mailbox.
"""

from __future__ import annotations

from delist_bot.config import Config
from delist_bot.mailbox.base import Fetched, Mailbox, MailboxError, MailboxRefused

__all__ = ["Fetched", "Mailbox", "MailboxError", "MailboxRefused", "open_mailbox"]


def open_mailbox(config: Config) -> Mailbox:
    if config.mailbox.kind == "maildir":
        from delist_bot.mailbox.maildir import MaildirMailbox

        return MaildirMailbox(config)
    from delist_bot.mailbox.imap import ImapMailbox

    return ImapMailbox(config)
