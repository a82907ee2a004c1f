"""API models of the movement domain: the training profile, the programme catalogue and the
ranked programmes a user can do."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field

from profilestore.platform.schemas import WriteModel
from profilestore.platform.types import TextRule

Goal = Literal["strength", "endurance", "mobility", "weight_loss", "general_health", "sport"]
Level = Literal["beginner", "intermediate", "advanced"]
Equipment = Literal[
    "none",
    "dumbbells",
    "barbell",
    "kettlebell",
    "bands",
    "pull_up_bar",
    "machines",
    "bike",
    "treadmill",
    "pool",
]
NeededEquipment = Literal[
    "dumbbells",
    "barbell",
    "kettlebell",
    "bands",
    "pull_up_bar",
    "machines",
    "bike",
    "treadmill",
    "pool",
]
BodyArea = Literal[
    "neck", "shoulders", "elbows", "wrists", "upper_back", "lower_back", "hips", "knees", "ankles"
]
LEVELS: tuple[str, ...] = ("beginner", "intermediate", "advanced")
Activity = Annotated[
    str,
    TextRule(32, strip=True, not_blank=True),
    Field(pattern=r"^[a-z][a-z0-9_]*$", description="A lower-case tag: running, yoga, ..."),
]
T = TypeVar("T")


def _distinct(values: list[T]) -> list[T]:
    """The list in its first-seen order, each value once."""
    return list(dict.fromkeys(values))


def _distinct_sorted(values: list[Any]) -> list[Any]:
    return sorted(set(values))


Days = Annotated[int, Field(strict=True, ge=1, le=7)]
Minutes = Annotated[int, Field(strict=True, ge=10, le=180)]


class MovementWrite(WriteModel):
    goals: Annotated[list[Goal], AfterValidator(_distinct_sorted)] = Field(default_factory=list)
    experience: Level | None = None
    days_per_week: Days | None = None
    session_minutes: Minutes | None = None
    equipment: Annotated[list[Equipment], AfterValidator(_distinct_sorted)] | None = Field(
        None,
        description='What the user has; ["none"]: bodyweight only; null: unknown (not a filter)',
    )
    preferred_activities: Annotated[
        list[Activity], Field(max_length=20), AfterValidator(_distinct)
    ] = Field(default_factory=list)
    limitations: Annotated[list[BodyArea], AfterValidator(_distinct_sorted)] = Field(
        default_factory=list, description="Body areas to avoid loading"
    )


class Movement(BaseModel):
    user_id: str
    goals: list[Goal]
    experience: Level | None
    days_per_week: int | None
    session_minutes: int | None
    equipment: list[Equipment] | None
    preferred_activities: list[str]
    limitations: list[BodyArea]
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


ProgramId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]


class ProgramWrite(WriteModel):
    name: Annotated[str, TextRule(100, strip=True, not_blank=True)]
    description: Annotated[str, TextRule(1000, multiline=True)] = ""
    goals: Annotated[list[Goal], Field(min_length=1), AfterValidator(_distinct_sorted)]
    level: Level
    days_per_week: Days
    session_minutes: Minutes
    equipment: Annotated[list[NeededEquipment], AfterValidator(_distinct_sorted)] = Field(
        default_factory=list, description="What it needs; empty: nothing"
    )
    loads: Annotated[list[BodyArea], AfterValidator(_distinct_sorted)] = Field(
        default_factory=list, description="Body areas it puts load on"
    )
    activities: Annotated[list[Activity], Field(max_length=10), AfterValidator(_distinct)] = Field(
        default_factory=list
    )


class ProgramCreate(ProgramWrite):
    program_id: ProgramId


class Program(BaseModel):
    program_id: str
    name: str
    description: str
    goals: list[Goal]
    level: Level
    days_per_week: int
    session_minutes: int
    equipment: list[NeededEquipment]
    loads: list[BodyArea]
    activities: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class ProgramPage(BaseModel):
    items: list[Program]
    next_cursor: str | None


class Reason(BaseModel):
    factor: Literal["goals", "days", "minutes", "level", "activities"]
    points: float
    detail: str


class Recommendation(BaseModel):
    program: Program
    score: float = Field(description="0-100: the sum of the reasons' points")
    reasons: list[Reason]


class RecommendationList(BaseModel):
    items: list[Recommendation]
    widened: list[str] = Field(
        description="Profile fields that were unknown, so did not filter (equipment, "
        "experience, limitations) or score (goals, days, minutes)"
    )
