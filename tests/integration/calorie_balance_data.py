"""A legacy calorie-balance database for the import tests: the schema of
``fixtures/calorie_balance_schema.sql`` filled with seeded random users and events, plus awkward
rows whose fate the tests know in advance (``Expected``), worked out here, not by the importer."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

SCHEMA = Path(__file__).parent / "fixtures" / "calorie_balance_schema.sql"
ZONE = "Europe/Rome"
DAYS = [dt.date(2024, 3, 28) + dt.timedelta(days=i) for i in range(6)] + [
    dt.date(2024, 10, 24) + dt.timedelta(days=i) for i in range(6)
]
"""Days around both 2024 DST changes in Rome (31 March, 27 October)."""
KIND_OF = {
    "consumed": "consumed",
    "burned_exercise": "burned_activity",
    "burned_bmr": "burned_other",
}


@dataclass
class Expected:
    """What the import must make of one legacy user."""

    username: str | None
    """Stored username; None: the whole user is skipped."""
    kcal: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    """Imported calorie amounts per kind here."""
    consumed_by_day: dict[dt.date, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    """Imported kcal consumed per local (Rome) day."""
    weights: dict[dt.date, Decimal] = field(default_factory=dict)


@dataclass
class LegacyData:
    rng: random.Random
    users: list[tuple[Any, ...]] = field(default_factory=list)
    profiles: list[tuple[Any, ...]] = field(default_factory=list)
    goals: list[tuple[Any, ...]] = field(default_factory=list)
    metabolic: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    expected: dict[uuid.UUID, Expected] = field(default_factory=dict)
    skipped: set[uuid.UUID] = field(default_factory=set)
    """Legacy ids of every row or value the report must list as not imported."""

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def user(self, username: str, created: dt.datetime | None, *, kept: str | None) -> uuid.UUID:
        user_id = self.new_id()
        self.users.append((user_id, f"{user_id.hex}@example.test", username, created))
        self.expected[user_id] = Expected(kept)
        if kept is None:
            self.skipped.add(user_id)
        return user_id

    def event(
        self,
        user: uuid.UUID,
        event_type: str,
        amount: str,
        at: dt.datetime,
        metadata: Any = None,
        *,
        imported: bool = True,
        metadata_kept: bool = True,
    ) -> uuid.UUID:
        event_id = self.new_id()
        stored = json.dumps(metadata) if metadata is not None else "{}"
        self.events.append((event_id, user, event_type, Decimal(amount), at, stored))
        expected = self.expected[user]
        if not imported or not metadata_kept:
            self.skipped.add(event_id)
        kind = KIND_OF.get(event_type.strip(" ").lower())
        if imported and expected.username is not None and kind is not None:
            expected.kcal[kind].append(Decimal(amount))
            if kind == "consumed":
                expected.consumed_by_day[at.date()] += Decimal(amount)
        return event_id

    def random_events(self, user: uuid.UUID, count: int) -> None:
        rng = self.rng
        types = ["consumed"] * 6 + ["burned_exercise"] * 3 + ["burned_bmr", " Consumed "]
        for _ in range(count):
            at = dt.datetime.combine(
                rng.choice(DAYS), dt.time(rng.randrange(24), rng.randrange(60))
            )
            amount = f"{rng.randrange(0, 150_000) / 100:.2f}"
            self.event(user, rng.choice(types), amount, at)


def build(seed: int) -> LegacyData:
    data = LegacyData(random.Random(seed))
    _marco(data)
    _luca(data)
    anna = data.user("anna.b", None, kept="anna.b")
    data.profiles.append((data.new_id(), anna, None, None, None, None, None, None))
    data.random_events(anna, 120)
    for index in range(3):
        _regular(data, index)
    twin = data.user("marco_rossi", dt.datetime(2023, 5, 2), kept=None)
    data.profiles.append((data.new_id(), twin, "170.00", "70.00", 30, "male", "sedentary", None))
    data.random_events(twin, 20)
    dashed = data.user("john-doe", dt.datetime(2023, 5, 3), kept=None)
    data.random_events(dashed, 5)
    data.user("admin", dt.datetime(2023, 5, 4), kept=None)
    return data


MARCO_PROFILE_UPDATED = dt.datetime(2024, 6, 15, 10, 0)
MARCO_GOAL_STARTS = [
    dt.datetime(2023, 11, 1, 8),
    dt.datetime(2024, 2, 1, 9),
    dt.datetime(2024, 3, 20, 7, 30),
]


def _marco(data: LegacyData) -> None:
    """Mixed case, a goal history, and every awkward event the import must handle."""
    marco = data.user("Marco_Rossi", dt.datetime(2023, 5, 1), kept="marco_rossi")
    data.profiles.append(
        (
            data.new_id(),
            marco,
            "181.50",
            "82.30",
            41,
            "male",
            "moderately_active",
            MARCO_PROFILE_UPDATED,
        )
    )
    first, second, third = MARCO_GOAL_STARTS
    data.goals += [
        (
            data.new_id(),
            marco,
            2200,
            "weight_loss",
            "78.00",
            dt.date(2024, 1, 31),
            False,
            first,
            None,
        ),
        (data.new_id(), marco, 2400, "maintenance", None, None, False, second, None),
        (
            data.new_id(),
            marco,
            2100,
            "weight_loss",
            "76.50",
            dt.date(2030, 12, 31),
            True,
            third,
            None,
        ),
    ]
    data.metabolic.append((data.new_id(), marco))
    at = dt.datetime
    data.event(marco, "water", "250.00", at(2024, 3, 30, 12), imported=False)
    data.event(marco, " Consumed ", "300.00", at(2024, 3, 30, 12, 5))
    data.event(marco, "BURNED_EXERCISE", "150.00", at(2024, 3, 30, 18))
    data.event(marco, "consumed", "25000.00", at(2024, 3, 30, 20), imported=False)
    data.event(marco, "consumed", "0.00", at(2024, 3, 30, 21))
    data.event(marco, "consumed", "0.01", at(2024, 10, 27, 2, 30))  # the repeated hour
    data.event(marco, "consumed", "10.00", at(2024, 3, 31, 2, 30))  # the hour that never was
    data.event(marco, "consumed", "23.45", at(2024, 10, 26, 23, 59))
    data.event(marco, "consumed", "400.00", at(2190, 1, 1, 12), imported=False)  # future
    data.event(marco, "consumed", "50.00", at.max, imported=False)  # 'infinity'
    data.event(
        marco, "consumed", "120.00", at(2024, 3, 29, 13), {"note": "x" * 5000}, metadata_kept=False
    )
    data.event(marco, "burned_bmr", "80.00", at(2024, 3, 29, 23), [1, 2], metadata_kept=False)
    meal = {"source": "healthkit", "items": [{"name": "pasta", "g": 120.5}]}
    data.event(marco, "consumed", "200.00", at(2024, 10, 25, 0, 10), meal)
    data.event(marco, "weight", "82.00", at(2024, 3, 30, 7), imported=False)  # a later one that day
    data.event(marco, "weight", "81.60", at(2024, 3, 30, 21))
    data.event(marco, "weight", "700.00", at(2024, 3, 29, 8), imported=False)
    data.event(marco, "weight", "81.20", at(2024, 10, 26, 7))
    data.expected[marco].weights = {
        dt.date(2024, 3, 30): Decimal("81.60"),
        dt.date(2024, 10, 26): Decimal("81.20"),
    }


LUCA_ACTIVE_START = dt.datetime(2024, 5, 1, 12)


def _luca(data: LegacyData) -> None:
    """Out-of-range body values, two active goals, values the goal rules refuse."""
    luca = data.user("luca", dt.datetime(2023, 6, 1), kept="luca")
    profile_id = data.new_id()
    data.profiles.append((profile_id, luca, "290.00", "0.50", 149, "other", "very_active", None))
    data.skipped.add(profile_id)
    older = data.new_id()
    data.goals += [
        (
            older,
            luca,
            500,
            "weight_gain",
            "1.50",
            dt.date(2020, 1, 1),
            True,
            None,
            dt.datetime(2024, 1, 10),
        ),
        (data.new_id(), luca, 2500, "maintenance", None, None, True, LUCA_ACTIVE_START, None),
    ]
    data.skipped.add(older)


def _regular(data: LegacyData, index: int) -> None:
    rng = data.rng
    user = data.user(f"user_{index}", dt.datetime(2023, 7, 1 + index), kept=f"user_{index}")
    height, weight = f"{rng.uniform(150, 200):.2f}", f"{rng.uniform(50, 120):.2f}"
    sex, level = rng.choice(["male", "female", "other"]), rng.choice(["sedentary", "very_active"])
    data.profiles.append(
        (data.new_id(), user, height, weight, rng.randrange(18, 80), sex, level, None)
    )
    goal = rng.choice(["weight_loss", "weight_gain", "maintenance"])
    data.goals.append(
        (
            data.new_id(),
            user,
            rng.randrange(1500, 3000),
            goal,
            None,
            None,
            True,
            dt.datetime(2024, 1, 1),
            None,
        )
    )
    data.random_events(user, 150)


async def fill(url: str, data: LegacyData) -> None:
    """Create the legacy schema at ``url`` (an empty database) and insert ``data``."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(SCHEMA.read_text())
        await conn.executemany(
            "INSERT INTO users (id, email, username, created_at) VALUES ($1, $2, $3, $4)",
            data.users,
        )
        await conn.executemany(
            "INSERT INTO user_profiles (id, user_id, height_cm, weight_kg, age, gender,"
            " activity_level, updated_at) VALUES ($1, $2, $3::text::numeric, $4::text::numeric, $5,"
            " $6::gender, $7::activity_level, COALESCE($8::timestamp, CURRENT_TIMESTAMP))",
            data.profiles,
        )
        await conn.executemany(
            "INSERT INTO calorie_goals (id, user_id, daily_calorie_target, goal_type,"
            " target_weight_kg, target_date, is_active, created_at, updated_at) VALUES"
            " ($1, $2, $3, $4::goal_type, $5::text::numeric, $6, $7, $8::timestamp,"
            " COALESCE($9::timestamp, $8::timestamp))",
            data.goals,
        )
        await conn.executemany(
            "INSERT INTO metabolic_profiles (id, user_id, bmr, tdee, calories_burned_bmr)"
            " VALUES ($1, $2, 1800, 2700, 1800)",
            data.metabolic,
        )
        await conn.executemany(
            "INSERT INTO calorie_events (id, user_id, event_type, calories_amount,"
            " event_timestamp, metadata) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            data.events,
        )
    finally:
        await conn.close()
