"""The movement domain: each user's training profile, the programme catalogue, and the
programmes a user can do, ranked by fit."""

from __future__ import annotations

from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.movement import api, graph, hub, profile

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=("movement_profiles",),
        audit_sensitive=("movement_profiles.limitations",),
        name="movement",
        routers=(api.router, api.programs_router),
        models=("profilestore.domains.movement.models",),
        user_deleted=profile.user_deleted,
        example_bodies={
            "MovementWrite": {"goals": ["strength"], "days_per_week": 3},
            "ProgramWrite": {
                "name": "Example",
                "goals": ["strength"],
                "level": "beginner",
                "days_per_week": 3,
                "session_minutes": 45,
            },
            "ProgramCreate": {
                "program_id": "example-program",
                "name": "Example",
                "goals": ["strength"],
                "level": "beginner",
                "days_per_week": 3,
                "session_minutes": 45,
            },
        },
    )
