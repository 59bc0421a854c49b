"""Servers, builders and helpers the tests share."""
