"""Notices into mail: who gets what, the templates, threading and wording per language."""
