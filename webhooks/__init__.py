"""Signed webhooks delivered from the log: the dispatcher process, its tables, the URL rules."""
