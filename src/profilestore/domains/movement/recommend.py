"""The programmes a user can do, ranked by fit, with the reasons for each score.

A programme is left out when it needs equipment the user lacks, is more than one level above
their experience, or loads a body area they asked to spare. A profile field that is unknown
widens the filter (or scores neutrally) instead of failing. Points (100 in all): goals 40,
days a week 20, minutes a session 20, level 10, preferred activities 10."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from profilestore.domains.movement.models import MovementProfile, Program
from profilestore.domains.movement.schemas import LEVELS

GOALS, DAYS, MINUTES, LEVEL, ACTIVITIES = 40.0, 20.0, 20.0, 10.0, 10.0
MINUTES_SCALE = 60
"""A session this many minutes longer or shorter than the user's scores nothing."""


def widened(profile: MovementProfile | None) -> list[str]:
    """The profile fields that were unknown (filters widened, neutral scores)."""
    if profile is None:
        return [
            "equipment",
            "experience",
            "limitations",
            "goals",
            "days_per_week",
            "session_minutes",
            "preferred_activities",
        ]
    unknown = {
        "equipment": profile.equipment is None,
        "experience": profile.experience is None,
        "limitations": not profile.limitations,
        "goals": not profile.goals,
        "days_per_week": profile.days_per_week is None,
        "session_minutes": profile.session_minutes is None,
        "preferred_activities": not profile.preferred_activities,
    }
    return [name for name, missing in unknown.items() if missing]


def can_do(profile: MovementProfile | None, program: Program) -> bool:
    if profile is None:
        return True
    if profile.equipment is not None and not set(program.equipment) <= set(profile.equipment):
        return False
    experience = profile.experience
    if experience is not None and LEVELS.index(program.level) > LEVELS.index(experience) + 1:
        return False
    return not set(program.loads) & set(profile.limitations)


def ranked(
    profile: MovementProfile | None, programs: Iterable[Program]
) -> list[tuple[Program, float, list[dict[str, Any]]]]:
    """``(program, score, reasons)`` of the programmes the user can do, best first (ties by
    id)."""
    scored = [(p, *_score(profile, p)) for p in programs if can_do(profile, p)]
    return sorted(scored, key=lambda item: (-item[1], item[0].program_id))


def _score(profile: MovementProfile | None, program: Program) -> tuple[float, list[dict[str, Any]]]:
    reasons = [
        _goals(profile.goals if profile else [], program),
        _days(profile.days_per_week if profile else None, program),
        _minutes(profile.session_minutes if profile else None, program),
        _level(profile.experience if profile else None, program),
        _activities(profile.preferred_activities if profile else [], program),
    ]
    return round(sum(r["points"] for r in reasons), 1), reasons


def _reason(factor: str, points: float, detail: str) -> dict[str, Any]:
    return {"factor": factor, "points": round(points, 1), "detail": detail}


def _goals(goals: list[str], program: Program) -> dict[str, Any]:
    if not goals:
        return _reason("goals", GOALS / 2, "no goals set: every programme scores half")
    shared = sorted(set(goals) & set(program.goals))
    if not shared:
        return _reason("goals", 0, "serves none of your goals")
    return _reason(
        "goals", GOALS * len(shared) / len(goals), f"serves {', '.join(shared)} of your goals"
    )


def _days(days: int | None, program: Program) -> dict[str, Any]:
    if days is None:
        return _reason("days", DAYS / 2, "days a week unknown")
    gap = program.days_per_week - days
    points = max(0.0, DAYS - 5 * abs(gap))
    if gap == 0:
        return _reason("days", points, f"{days} days a week, as you planned")
    more = "more" if gap > 0 else "fewer"
    plural = "s" if abs(gap) > 1 else ""
    return _reason("days", points, f"{abs(gap)} day{plural} a week {more} than your {days}")


def _minutes(minutes: int | None, program: Program) -> dict[str, Any]:
    if minutes is None:
        return _reason("minutes", MINUTES / 2, "session length unknown")
    gap = program.session_minutes - minutes
    points = max(0.0, MINUTES * (1 - abs(gap) / MINUTES_SCALE))
    if gap == 0:
        return _reason("minutes", points, f"{minutes}-minute sessions, as you planned")
    longer = "longer" if gap > 0 else "shorter"
    return _reason("minutes", points, f"sessions {abs(gap)} minutes {longer} than your {minutes}")


def _level(experience: str | None, program: Program) -> dict[str, Any]:
    if experience is None:
        return _reason("level", LEVEL / 2, "experience unknown")
    step = LEVELS.index(program.level) - LEVELS.index(experience)
    if step == 0:
        return _reason("level", LEVEL, f"made for your level ({experience})")
    if step == 1:
        return _reason("level", LEVEL / 2, f"one step up from {experience}")
    return _reason("level", LEVEL / 2, f"easier than your level ({program.level})")


def _activities(preferred: list[str], program: Program) -> dict[str, Any]:
    if not preferred:
        return _reason("activities", ACTIVITIES / 2, "no preferred activities set")
    shared = [a for a in preferred if a in program.activities]
    if not shared:
        return _reason("activities", 0, "none of your preferred activities")
    return _reason("activities", ACTIVITIES, f"includes {', '.join(shared)}")
