"""The nutrition formulas against published worked examples and their definitions."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profilestore.domains.nutrition import formulas as f


def test_mifflin_st_jeor_worked_examples() -> None:
    # A 30-year-old man, 70 kg, 175 cm: 700 + 1093.75 - 150 + 5 (calculatorlib.com's example)
    assert f.bmr_mifflin_st_jeor(70, 175, 30, "male") == pytest.approx(1648.75)
    # A 30-year-old woman, 60 kg, 165 cm: 600 + 1031.25 - 150 - 161
    assert f.bmr_mifflin_st_jeor(60, 165, 30, "female") == pytest.approx(1320.25)


def test_revised_harris_benedict_coefficients() -> None:
    # Roza & Shizgal 1984: 88.362 + 13.397 W + 4.799 H - 5.677 A (men), 447.593 + 9.247 W
    # + 3.098 H - 4.330 A (women)
    assert f.bmr_harris_benedict(70, 175, 30, "male") == pytest.approx(1695.667)
    assert f.bmr_harris_benedict(60, 165, 30, "female") == pytest.approx(1383.683)


def test_katch_mcardle_worked_example() -> None:
    # 80 kg at 18 % body fat: lean mass 65.6 kg, 370 + 21.6 x 65.6 = 1786.96
    assert f.bmr_katch_mcardle(80, 18) == pytest.approx(1786.96)


def test_other_sex_is_the_mean_of_both_equations() -> None:
    male = f.bmr_mifflin_st_jeor(70, 175, 30, "male")
    female = f.bmr_mifflin_st_jeor(70, 175, 30, "female")
    assert f.bmr_mifflin_st_jeor(70, 175, 30, "other") == pytest.approx((male + female) / 2)
    assert f.bmr_harris_benedict(70, 175, 30, None) == pytest.approx(
        (f.bmr_harris_benedict(70, 175, 30, "male") + f.bmr_harris_benedict(70, 175, 30, "female"))
        / 2
    )


@pytest.mark.parametrize(
    ("level", "factor"),
    [
        ("sedentary", 1.2),
        ("lightly_active", 1.375),
        ("moderately_active", 1.55),
        ("very_active", 1.725),
        ("extra_active", 1.9),
    ],
)
def test_tdee_multipliers(level: f.ActivityLevel, factor: float) -> None:
    assert f.tdee(1648.75, level) == pytest.approx(1648.75 * factor)


def test_calorie_targets_follow_the_goal_and_never_pass_the_floor() -> None:
    # 0.5 kg a week is 3,850 kcal a week, 550 a day
    assert f.calorie_target(2500, "weight_loss", "female", 0.5) == f.Target(1950, clamped=False)
    assert f.calorie_target(2500, "weight_gain", "male", 0.5) == f.Target(3050, clamped=False)
    assert f.calorie_target(2500, "maintenance", "male") == f.Target(2500, clamped=False)
    assert f.calorie_target(1900, "weight_loss", "male", 1.0) == f.Target(1500, clamped=True)
    assert f.calorie_target(1700, "weight_loss", "female", 1.0) == f.Target(1200, clamped=True)
    assert f.calorie_target(1700, "weight_loss", "other", 1.0) == f.Target(1350, clamped=True)
    assert f.calorie_target(2500, "weight_loss", "male") == f.Target(1950, clamped=False)


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (dt.date(1990, 6, 15), dt.date(2026, 6, 14), 35),
        (dt.date(1990, 6, 15), dt.date(2026, 6, 15), 36),
        (dt.date(2000, 2, 29), dt.date(2026, 2, 28), 25),
        (dt.date(2000, 2, 29), dt.date(2026, 3, 1), 26),
        (dt.date(2000, 2, 29), dt.date(2028, 2, 29), 28),
    ],
)
def test_age_counts_completed_years(born: dt.date, day: dt.date, age: int) -> None:
    assert f.age_on(born, day) == age


@given(st.floats(min_value=20, max_value=650), st.floats(min_value=50, max_value=272))
def test_unit_conversions_round_trip(kg: float, cm: float) -> None:
    assert math.isclose(f.pounds_to_kg(f.kg_to_pounds(kg)), kg, rel_tol=1e-12)
    assert math.isclose(f.inches_to_cm(f.cm_to_inches(cm)), cm, rel_tol=1e-12)
    assert math.isclose(f.kg_to_pounds(1), 2.2046226218)
    assert f.inches_to_cm(12) == pytest.approx(30.48)
