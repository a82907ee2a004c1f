"""The profiles domain: identity profile, presence and addresses."""

from __future__ import annotations

from profilestore.platform.owners import OwnerDirectory
from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.profiles import (
        address_api,
        admin_api,
        api,
        fast,
        graph,
        hub,
        presence,
        presence_api,
        service,
    )

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=("profiles", "addresses"),
        audit_sensitive=("addresses.lines", "addresses.postal_code"),
        audit_skipped_events=("profilestore.profiles.PresenceChanged",),
        name="profiles",
        routers=(api.router, presence_api.router, address_api.router, admin_api.router),
        fast_reads=fast.FAST_READS,
        configure=presence.configure,
        user_deleted=service.user_deleted,
        forget=presence.forget_user,
        lifespan=presence.lifespan,
        models=("profilestore.domains.profiles.models",),
        owners=OwnerDirectory(
            exists=service.profile_exists,
            lock=service.lock_owner,
            lock_timezone=service.lock_owner_timezone,
            timezone=service.profile_timezone,
        ),
        example_bodies={
            "ProfileWrite": {"username": "mallory", "bio": "pwned"},
            "PresenceWrite": {"status": "busy"},
            "AddressWrite": {
                "kind": "billing",
                "lines": ["1 Evil Way"],
                "city": "X",
                "country": "DE",
            },
        },
    )
