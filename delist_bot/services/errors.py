"""The one error a service raises for a mistake in what the user asked for.

The CLI prints it on one line with exit status 1 (cli/app.py), like a config or store error.
"""


class UserError(Exception):
    """A mistake in what the user asked for (an unknown case id, a bad address)."""
