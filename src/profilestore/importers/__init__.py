"""Importers of other systems' databases into the domains, writing through their services."""
