"""Tests of the store: the file, the archive, transactions."""
