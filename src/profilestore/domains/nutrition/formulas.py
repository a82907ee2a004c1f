"""Energy formulas of the nutrition domain (issue 11): basal metabolic rate by three published
equations, total daily energy expenditure, and the calorie target a goal derives from it. Pure
functions of metric inputs (the API converts imperial input first); kcal per day throughout.

Sources (docs/nutrition.md will carry them with the API):
- Mifflin MD, St Jeor ST et al., "A new predictive equation for resting energy expenditure in
  healthy individuals", Am J Clin Nutr 1990;51:241-7;
- Roza AM, Shizgal HM, "The Harris Benedict equation reevaluated", Am J Clin Nutr
  1984;40:168-82 (the revised Harris-Benedict coefficients);
- Katch-McArdle: BMR = 370 + 21.6 x lean body mass (kg) (McArdle, Katch & Katch, Exercise
  Physiology);
- activity multipliers 1.2 / 1.375 / 1.55 / 1.725 / 1.9 and 7,700 kcal per kg of body weight,
  as the issue states them.

A sex other than male or female (or none given) uses the mean of the two equations, and the
mean of the two minimum targets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Sex = Literal["male", "female", "other"]
ActivityLevel = Literal[
    "sedentary", "lightly_active", "moderately_active", "very_active", "extra_active"
]
GoalType = Literal["weight_loss", "weight_gain", "maintenance"]

ACTIVITY_FACTORS: dict[str, float] = {
    "sedentary": 1.2,
    "lightly_active": 1.375,
    "moderately_active": 1.55,
    "very_active": 1.725,
    "extra_active": 1.9,
}
KCAL_PER_KG = 7700.0
MINIMUM_TARGET = {"male": 1500.0, "female": 1200.0}
DEFAULT_RATE_KG_PER_WEEK = {"weight_loss": 0.5, "weight_gain": 0.25, "maintenance": 0.0}
POUNDS_PER_KG = 2.2046226218
CM_PER_INCH = 2.54


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years on ``day`` (someone born on 29 February ages on 1 March in other years)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def _by_sex(sex: Sex | None, male: float, female: float) -> float:
    if sex == "male":
        return male
    if sex == "female":
        return female
    return (male + female) / 2


def bmr_mifflin_st_jeor(weight_kg: float, height_cm: float, age: int, sex: Sex | None) -> float:
    base = 10 * weight_kg + 6.25 * height_cm - 5 * age
    return _by_sex(sex, base + 5, base - 161)


def bmr_harris_benedict(weight_kg: float, height_cm: float, age: int, sex: Sex | None) -> float:
    """The revised (Roza & Shizgal 1984) Harris-Benedict equation."""
    male = 88.362 + 13.397 * weight_kg + 4.799 * height_cm - 5.677 * age
    female = 447.593 + 9.247 * weight_kg + 3.098 * height_cm - 4.330 * age
    return _by_sex(sex, male, female)


def bmr_katch_mcardle(weight_kg: float, body_fat_percent: float) -> float:
    lean_mass_kg = weight_kg * (1 - body_fat_percent / 100)
    return 370 + 21.6 * lean_mass_kg


def tdee(bmr: float, activity_level: ActivityLevel) -> float:
    return bmr * ACTIVITY_FACTORS[activity_level]


@dataclass(frozen=True)
class Target:
    kcal: float
    clamped: bool
    """The goal asked for less than the minimum for the sex, which was used instead."""


def calorie_target(
    daily_expenditure: float,
    goal_type: GoalType,
    sex: Sex | None,
    rate_kg_per_week: float | None = None,
) -> Target:
    """The daily intake that moves weight at the goal's rate (7,700 kcal per kg), never below
    the minimum for the sex (the clamp is reported)."""
    rate = DEFAULT_RATE_KG_PER_WEEK[goal_type] if rate_kg_per_week is None else rate_kg_per_week
    daily_change = rate * KCAL_PER_KG / 7
    if goal_type == "weight_loss":
        wanted = daily_expenditure - daily_change
    elif goal_type == "weight_gain":
        wanted = daily_expenditure + daily_change
    else:
        wanted = daily_expenditure
    floor = _by_sex(sex, MINIMUM_TARGET["male"], MINIMUM_TARGET["female"])
    return Target(kcal=max(wanted, floor), clamped=wanted < floor)


def pounds_to_kg(pounds: float) -> float:
    return pounds / POUNDS_PER_KG


def kg_to_pounds(kg: float) -> float:
    return kg * POUNDS_PER_KG


def inches_to_cm(inches: float) -> float:
    return inches * CM_PER_INCH


def cm_to_inches(cm: float) -> float:
    return cm / CM_PER_INCH
