"""The nutrition domain in GraphQL: body metrics, eating profile, the active goal, calorie
entries and summaries; ``setGoal`` and ``logCalories``; the body and eating steps of
``createUserProfile``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from profilestore.domains.nutrition.schemas import (
    Body,
    BodyWrite,
    CalorieEntry,
    CalorieSummary,
    CalorieWrite,
    Eating,
    EatingWrite,
    GoalView,
    GoalWrite,
)
from profilestore.platform.graphqlspec import (
    DomainGraph,
    GraphArg,
    GraphField,
    GraphMutation,
    OnboardingStep,
)

BASE = "/v1/profiles/{user_id}"


def active_goal(answer: dict[str, Any]) -> dict[str, Any] | None:
    return next((goal for goal in answer["items"] if goal["active"]), None)


SUMMARY_ARGUMENTS = (
    GraphArg("granularity", str, "hour, day (default), week, month or year"),
    GraphArg("from", dt.date, "First local date (default: 30 days back)"),
    GraphArg("to", dt.date, "Last local date, included (default: today)"),
)

GRAPH = DomainGraph(
    part="nutrition",
    fields=(
        GraphField("body", f"{BASE}/body", Body, "Body metrics with BMR and TDEE"),
        GraphField("eating", f"{BASE}/eating", Eating, "Eating profile and calorie target"),
        GraphField("goal", f"{BASE}/goals", GoalView, "The active goal", pick=active_goal),
        GraphField(
            "calorie_summary",
            f"{BASE}/calories/summary",
            CalorieSummary,
            "Calories per local hour, day, week, month or year, with the balance",
            arguments=SUMMARY_ARGUMENTS,
        ),
        GraphField(
            "calories",
            f"{BASE}/calories",
            CalorieEntry,
            "The calorie ledger, newest first",
            page=True,
        ),
    ),
    mutations=(
        GraphMutation(
            "set_goal", "POST", f"{BASE}/goals", GoalWrite, GoalView, "Start a new active goal"
        ),
        GraphMutation(
            "log_calories",
            "POST",
            f"{BASE}/calories",
            CalorieWrite,
            CalorieEntry,
            "Log one calorie event (an event_id makes a retry count it once)",
        ),
    ),
    onboarding=(
        OnboardingStep("body", f"{BASE}/body", BodyWrite),
        OnboardingStep("eating", f"{BASE}/eating", EatingWrite),
    ),
)
