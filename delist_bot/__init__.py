"""delist-bot: answers the delist@ mailbox for IPs that Microsoft 365 has blocked."""

__version__ = "0.1.0"
