"""The errors a command answers in one line: the one a service raises for a mistake in what the
user asked for, and the expected faults of the configuration, the store and the mailbox.

The CLI prints each on one line with exit status 1 (cli/app.py); anything else is a bug.
"""

from delist_bot.config import ConfigError
from delist_bot.mailbox import MailboxError
from delist_bot.store import StoreError


class UserError(Exception):
    """A mistake in what the user asked for (an unknown case id, a bad address)."""


# What the user (or the machine they point us at) got wrong, said in one line.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ConfigError, StoreError, MailboxError, UserError)
