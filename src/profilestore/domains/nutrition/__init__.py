"""The nutrition domain (issue 11), in progress: so far its energy formulas (formulas.py);
not yet registered in ``domains/registry.py``."""
