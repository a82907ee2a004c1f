"""The nutrition domain: body metrics with BMR/TDEE, weight history, the eating profile, goals
and the calorie target (with its history), the calorie ledger, and its summaries in the user's
timezone from hourly and daily rollups kept with every ledger write."""

from __future__ import annotations

from profilestore.platform.registry import Domain

BATCH_BODY_BYTES = 8 * 1024 * 1024
"""A calorie batch: up to 1,000 events, each with up to 4 KiB of metadata."""
BODY_SENSITIVE = ("height_cm", "weight_kg", "birth_date", "sex", "body_fat_percent")
"""Body measurements: health data, whose values the audit log never keeps."""


def descriptor() -> Domain:
    from profilestore.domains.nutrition import api, body, graph, hub, rollups

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=(
            "nutrition_body",
            "nutrition_weights",
            "nutrition_eating",
            "nutrition_goals",
            "nutrition_targets",
            "nutrition_calories",
            "nutrition_calories_hourly",
            "nutrition_calories_daily",
            "nutrition_rollup_zone",
        ),
        audit_sensitive=(
            *(f"nutrition_body.{name}" for name in BODY_SENSITIVE),
            "nutrition_weights.weight_kg",
            "nutrition_goals.target_weight_kg",
            "nutrition_eating.allergies",
            "nutrition_eating.excluded_foods",
            "nutrition_calories.note",
            "nutrition_calories.metadata",
        ),
        name="nutrition",
        routers=(api.router,),
        models=("profilestore.domains.nutrition.models",),
        user_deleted=body.user_deleted,
        profile_changed=rollups.profile_changed,
        body_limits={"/v1/profiles/{user_id}/calories": BATCH_BODY_BYTES},
        example_bodies={
            "BodyWrite": {"height_cm": 180, "weight_kg": 80, "activity_level": "sedentary"},
            "WeightLog": {"day": "2026-01-01", "weight_kg": 80},
            "EatingWrite": {"diet": "vegan", "calorie_target_override": 1800},
            "GoalWrite": {"goal_type": "weight_loss", "rate_kg_per_week": 0.5},
            "CaloriePost": {"kind": "consumed", "kcal": 500, "at": "2026-01-01T12:00:00Z"},
        },
    )
