"""Vertical slices, one per domain; each owns its tables, API and events."""
