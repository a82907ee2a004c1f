"""The social domain in GraphQL: contacts, each with its public profile and the contact as
a ``PublicUser`` (batched)."""

from __future__ import annotations

from profilestore.domains.social.schemas import Contact
from profilestore.platform.graphqlspec import DomainGraph, GraphArg, GraphField

GRAPH = DomainGraph(
    part="social",
    fields=(
        GraphField(
            "contacts",
            "/v1/profiles/{user_id}/contacts",
            Contact,
            "The user's contacts, each with its public profile",
            arguments=(GraphArg("favorite", bool, "Only favorites (true) or the others"),),
            page=True,
            links=(("contact_user_id", "user"),),
        ),
    ),
)
