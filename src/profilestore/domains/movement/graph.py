"""The movement domain in GraphQL: the training profile, the programmes the user can do,
and the movement step of ``createUserProfile``."""

from __future__ import annotations

from profilestore.domains.movement.schemas import Movement, MovementWrite, RecommendationList
from profilestore.platform.graphqlspec import DomainGraph, GraphField, OnboardingStep

BASE = "/v1/profiles/{user_id}"


GRAPH = DomainGraph(
    part="movement",
    fields=(
        GraphField("movement", f"{BASE}/movement", Movement, "The training profile"),
        GraphField(
            "programs",
            f"{BASE}/programs",
            RecommendationList,
            "Programmes the user can do, best fit first, with the reasons of each score",
        ),
    ),
    onboarding=(OnboardingStep("movement", f"{BASE}/movement", MovementWrite),),
)
