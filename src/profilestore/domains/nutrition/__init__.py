"""The nutrition domain (issue 11, in progress): body metrics with BMR/TDEE and weight history
so far; eating profile, goals, the calorie target and the calorie ledger are still to come."""

from __future__ import annotations

from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.nutrition import api, body

    return Domain(
        name="nutrition",
        routers=(api.router,),
        models=("profilestore.domains.nutrition.models",),
        user_deleted=body.user_deleted,
        example_bodies={
            "BodyWrite": {"height_cm": 180, "weight_kg": 80, "activity_level": "sedentary"},
            "WeightLog": {"day": "2026-01-01", "weight_kg": 80},
        },
    )
