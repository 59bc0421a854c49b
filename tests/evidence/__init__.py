"""Tests of evidence lookups against a real DNS server and an RDAP server on loopback."""
