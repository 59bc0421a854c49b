"""The store's tables, one small class each, composed by store.transaction.Transaction.

Each owns its TinyDB table (or its keys in the state table) for one transaction.
"""
