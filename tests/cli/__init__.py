"""Tests of the commands as operators type them."""
