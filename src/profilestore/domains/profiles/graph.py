"""The profiles domain in GraphQL: ``User.profile`` (batched: one call for many users),
``updateProfile``, and the identity step of ``createUserProfile``."""

from __future__ import annotations

from profilestore.domains.profiles.schemas import Profile, ProfileWrite
from profilestore.platform.graphqlspec import DomainGraph, GraphField, GraphMutation, OnboardingStep

GRAPH = DomainGraph(
    part="identity",
    fields=(
        GraphField(
            "profile",
            "/v1/profiles/{user_id}",
            Profile,
            description="The whole profile for the user, admins and services; else the public "
            "fields (the others are null)",
            private=False,
            batch="/v1/profiles",
        ),
    ),
    mutations=(
        GraphMutation(
            "update_profile",
            "PATCH",
            "/v1/profiles/{user_id}",
            ProfileWrite,
            Profile,
            description="A JSON Merge Patch of the profile: fields left out stay, null clears",
        ),
    ),
    onboarding=(OnboardingStep("profile", "/v1/profiles/{user_id}", ProfileWrite, required=True),),
)
