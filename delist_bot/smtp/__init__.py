"""Where mail goes: transport.py, the one module that sends (an SMTP server, or .eml files)."""
