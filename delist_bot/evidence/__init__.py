"""Evidence for a case: reverse DNS, forward-confirmed, SPF, block list zones and RDAP.

`spf` is pure (the model is core/evidence.py); `dns` (the only module importing dnspython),
`rdap` (urllib) and `gather` touch the world, each lookup with a timeout, each failure an
"unknown", never an error.
"""
