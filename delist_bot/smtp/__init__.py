"""Outgoing mail over SMTP (smtplib) or into a folder of .eml files: the only sender."""
