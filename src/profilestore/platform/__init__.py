"""Machinery with no domain knowledge: database, auth, errors, HTTP, observability."""
