"""Tests of the mail the bot writes: templates, languages, threading, wrapping."""
