"""Evidence for a case: reverse DNS, forward-confirmed, SPF, block list zones and RDAP.

`model` and `spf` are pure; `dns` (the only module importing dnspython), `rdap` (urllib) and
`gather` touch the world, each lookup with a timeout, each failure an "unknown", never an error.
"""

from delist_bot.core.evidence import Evidence, Listing, Network, Verdict

__all__ = ["Evidence", "Listing", "Network", "Verdict"]
