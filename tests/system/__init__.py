"""Whole-system tests: real Dovecot, SMTP, Chromium and whole processes."""
