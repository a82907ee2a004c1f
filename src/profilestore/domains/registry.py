"""The domains this build serves, in mounting order. Everything that lists domains (the app's
routes, the migration metadata, viewer filters, the profile-delete cascade, the authorization
matrix test) iterates over ``DOMAINS``; a new domain is added here and nowhere else."""

from __future__ import annotations

from profilestore.domains import media, movement, nutrition, profiles, social
from profilestore.platform.registry import Domain, install


def domains() -> tuple[Domain, ...]:
    return (
        profiles.descriptor(),
        social.descriptor(),
        media.descriptor(),
        nutrition.descriptor(),
        movement.descriptor(),
    )


DOMAINS = domains()
install(DOMAINS)
