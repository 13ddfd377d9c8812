"""semcomm: a semantic-communication simulator (deep JSCC vs classical digital links)."""

__version__ = "0.1.0"
