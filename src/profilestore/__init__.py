"""profilestore: a user profile service for app platforms."""

__version__ = "0.1.0"
