"""Tests of the worker pass, the outbox and faults, on a Maildir and the files outbox."""
