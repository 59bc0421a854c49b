"""The application set up for one process from its configuration: what every command does once
the configuration is read (the wiring the worker shares is runtime/wiring.py).
"""

from __future__ import annotations

from delist_bot.compose.templates import use_templates
from delist_bot.config import Config, resolve


def configure(config: Config) -> None:
    """The operator's templates ([templates] path), if any, in place for this process."""
    use_templates(resolve(config, config.templates.path) if config.templates.path else None)
