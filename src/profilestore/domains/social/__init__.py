"""The social domain: contacts, blocks, follows (and requests to follow private accounts) and
mutes, and the block rule every other domain's reads of one user's data by another apply (as
a viewer filter)."""

from __future__ import annotations

from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.social import (
        api,
        cached,
        follow_requests,
        follow_requests_api,
        follows_api,
        graph,
        hub,
        presence_stream,
        service,
    )

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=(
            "contacts",
            "blocks",
            "follows",
            "follow_counts",
            "follow_requests",
            "mutes",
        ),
        audit_sensitive=("blocks.reason",),
        name="social",
        routers=(
            api.router,
            follows_api.router,
            follow_requests_api.router,
            presence_stream.router,
        ),
        models=(
            "profilestore.domains.social.models",
            "profilestore.domains.social.follow_models",
        ),
        requires=("profiles",),
        viewer_filter=service.not_blocked_by,
        hidden_from=cached.blockers_of,
        is_contact=service.is_contact,
        contacts_among=cached.contacts_among,
        user_deleted=service.user_deleted,
        profile_changed=follow_requests.profile_changed,
        example_bodies={
            "ContactWrite": {"nickname": "pwned", "is_favorite": True},
            "BlockWrite": {"reason": "pwned"},
        },
    )
