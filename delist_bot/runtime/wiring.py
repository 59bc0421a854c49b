"""The application's wiring from a configuration: the store, the journal, the review secret,
the pipeline's settings and the evidence gatherer, for the worker and the services alike.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from delist_bot.config import Config, resolve
from delist_bot.core import sla
from delist_bot.core.settings import Sender, Settings
from delist_bot.evidence.gather import Gatherer
from delist_bot.evidence.gather import Settings as GatherSettings
from delist_bot.runtime.journal import Journal
from delist_bot.store import Store


def open_store(config: Config) -> Store:
    return Store(resolve(config, config.store.path))


def journal_for(store: Store) -> Journal:
    """The courier's journal, beside the store it is settled into."""
    return Journal(store.path.with_name(store.path.name + ".journal"))


def settings_for(config: Config, secret: str) -> Settings:
    sender = Sender.from_address(config.smtp.from_address)
    own = (config.smtp.from_address, config.mailbox.username)
    review = config.review
    return Settings(
        sender=sender,
        own_addresses=tuple(a for a in own if "@" in a),
        reviewers=tuple(review.reviewers),
        operators=tuple(review.operators),
        secret=secret,
        authserv_id=review.authserv_id,
        require_listed=review.require_listed,
        replies_per_sender=config.limits.replies_per_sender,
        reply_window_hours=config.limits.reply_window_hours,
        replies_per_domain=config.limits.replies_per_domain,
        ages=sla.Ages(
            reminder=timedelta(hours=review.reminder_hours),
            escalation=timedelta(hours=review.escalation_hours),
            holding=timedelta(hours=review.holding_hours),
        ),
        policy_mode=config.policy.mode,
    )


def review_secret(config: Config, store: Store) -> str:
    """The configured secret, else one generated on first run and kept in the store."""
    if config.review.secret:
        return config.review.secret
    with store.transaction() as tx:
        secret = tx.state.get("review_secret")
        if not secret:
            secret = secrets.token_hex(32)
            tx.state.set("review_secret", secret)
    return str(secret)


def store_settings(config: Config, store: Store) -> Settings:
    """The pipeline's settings with the review secret this store keeps."""
    return settings_for(config, review_secret(config, store))


def evidence_gatherer(config: Config) -> Gatherer | None:
    """None when [policy] mode is off: no lookups at all."""
    if config.policy.mode == "off":
        return None
    found = config.evidence
    return Gatherer(
        GatherSettings(
            tuple(found.nameservers),
            tuple(found.dnsbl_zones),
            found.rdap_url,
            found.timeout_seconds,
        )
    )
