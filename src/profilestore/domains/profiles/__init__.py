"""The profiles domain: identity profile, presence and addresses."""

from __future__ import annotations

import uuid
from typing import Any

from profilestore.domains.profiles.avatar_images import MAX_UPLOAD_BYTES
from profilestore.platform.owners import OwnerDirectory
from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.profiles import (
        address_api,
        admin_api,
        api,
        avatar_api,
        avatars,
        custom_fields,
        fast,
        graph,
        hub,
        presence,
        presence_api,
        privacy_api,
        search_api,
        service,
    )

    def configure(app: Any) -> None:
        custom_fields.configure(app)
        presence.configure(app)
        search_api.configure(app)
        avatar_api.configure(app)

    async def forget(app: Any, user_id: uuid.UUID) -> None:
        await presence.forget_user(app, user_id)
        await avatars.forget(app, user_id)

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=(
            "profiles",
            "addresses",
            "username_holds",
            "username_changes",
            "profile_search_words",
        ),
        audit_sensitive=("addresses.lines", "addresses.postal_code"),
        audit_skipped_events=("profilestore.profiles.PresenceChanged",),
        name="profiles",
        routers=(
            api.router,
            presence_api.router,
            address_api.router,
            admin_api.router,
            search_api.router,
            avatar_api.router,
            privacy_api.router,
        ),
        body_limits={avatar_api.PATH: MAX_UPLOAD_BYTES},
        body_media_types={avatar_api.PATH: avatar_api.MEDIA_TYPES},
        fast_reads=fast.FAST_READS,
        configure=configure,
        user_deleted=service.user_deleted,
        forget=forget,
        lifespan=presence.lifespan,
        models=(
            "profilestore.domains.profiles.models",
            "profilestore.domains.profiles.username_models",
            "profilestore.domains.profiles.search_models",
        ),
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
