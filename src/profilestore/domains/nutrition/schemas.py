"""API models of the nutrition domain: what each write accepts (metric or imperial) and what
each answer holds (in the user's units)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    model_validator,
)

from profilestore.domains.nutrition import formulas
from profilestore.platform.jsonutil import dumps
from profilestore.platform.schemas import WriteModel
from profilestore.platform.types import BoundedDatetime, TextRule, bounded_date, check_json_text

MIN_AGE, MAX_AGE = 13, 120


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date as YYYY-MM-DD")


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    AfterValidator(bounded_date),
    Field(examples=["1990-06-15"], description="YYYY-MM-DD, years 1900-2200"),
]


HeightCm = Annotated[float, Field(strict=True, ge=50, le=272, allow_inf_nan=False)]
HeightIn = Annotated[float, Field(strict=True, ge=19.69, le=107.08, allow_inf_nan=False)]
WeightKg = Annotated[float, Field(strict=True, ge=20, le=650, allow_inf_nan=False)]
WeightLb = Annotated[float, Field(strict=True, ge=44.1, le=1433.0, allow_inf_nan=False)]
BodyFat = Annotated[float, Field(strict=True, ge=3, le=70, allow_inf_nan=False)]
Units = Literal["metric", "imperial"]
Formula = Literal["mifflin_st_jeor", "harris_benedict", "katch_mcardle"]


def _one_of(data: Any, metric: str, imperial: str) -> None:
    if isinstance(data, dict) and data.get(metric) is not None and data.get(imperial) is not None:
        raise ValueError(f"send {metric} or {imperial}, not both")


class BodyWrite(WriteModel):
    """Body metrics; every field may be left out (unknown). Height and weight in metric or
    imperial (``height_in``, ``weight_lb``): stored metric."""

    height_cm: HeightCm | None = None
    height_in: HeightIn | None = None
    weight_kg: WeightKg | None = None
    weight_lb: WeightLb | None = None
    birth_date: IsoDate | None = Field(None, description=f"age {MIN_AGE}-{MAX_AGE}")
    sex: formulas.Sex | None = Field(None, description="other: the formulas use the mean")
    activity_level: formulas.ActivityLevel | None = None
    body_fat_percent: BodyFat | None = None
    units: Units = Field("metric", description="How answers give height and weight")

    @model_validator(mode="before")
    @classmethod
    def _metric_or_imperial(cls, data: Any) -> Any:
        _one_of(data, "height_cm", "height_in")
        _one_of(data, "weight_kg", "weight_lb")
        return data

    @model_validator(mode="after")
    def _plausible_age(self) -> BodyWrite:
        if self.birth_date is not None:
            age = formulas.age_on(self.birth_date, dt.datetime.now(dt.UTC).date())
            if not MIN_AGE <= age <= MAX_AGE:
                raise ValueError(f"birth_date gives an age of {age}: {MIN_AGE}-{MAX_AGE} only")
        return self

    def columns(self) -> dict[str, Any]:
        """The stored (metric) fields."""
        height = self.height_cm
        if self.height_in is not None:
            height = formulas.inches_to_cm(self.height_in)
        weight = self.weight_kg
        if self.weight_lb is not None:
            weight = formulas.pounds_to_kg(self.weight_lb)
        return {
            "height_cm": height,
            "weight_kg": weight,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "activity_level": self.activity_level,
            "body_fat_percent": self.body_fat_percent,
            "units": self.units,
        }


class Body(BaseModel):
    user_id: str
    height_cm: float | None = Field(None, description="metric units only")
    weight_kg: float | None = Field(None, description="metric units only")
    height_in: float | None = Field(None, description="imperial units only")
    weight_lb: float | None = Field(None, description="imperial units only")
    birth_date: dt.date | None
    age: int | None = Field(description="Derived from birth_date, never stored")
    sex: str | None
    activity_level: str | None
    body_fat_percent: float | None
    units: Units
    formula: Formula
    bmr: float | None = Field(description="kcal a day; null while a needed field is unknown")
    tdee: float | None
    missing: list[str] = Field(description="Fields BMR and TDEE still need")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class WeightLog(WriteModel):
    day: IsoDate
    weight_kg: WeightKg | None = None
    weight_lb: WeightLb | None = None

    @model_validator(mode="before")
    @classmethod
    def _metric_or_imperial(cls, data: Any) -> Any:
        _one_of(data, "weight_kg", "weight_lb")
        return data

    @model_validator(mode="after")
    def _has_weight(self) -> WeightLog:
        if self.weight_kg is None and self.weight_lb is None:
            raise ValueError("send weight_kg or weight_lb")
        return self

    def kilograms(self) -> float:
        if self.weight_lb is not None:
            return formulas.pounds_to_kg(self.weight_lb)
        assert self.weight_kg is not None
        return self.weight_kg


class WeightEntry(BaseModel):
    day: dt.date
    weight_kg: float | None = None
    weight_lb: float | None = None


class WeightList(BaseModel):
    items: list[WeightEntry]


Diet = Literal["omnivore", "vegetarian", "vegan", "pescatarian", "keto", "paleo", "other"]
FoodName = Annotated[str, TextRule(64, strip=True, not_blank=True)]
FoodList = Annotated[
    list[FoodName], Field(max_length=50, description="At most 50, 64 characters each")
]


class MacroSplit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protein: Annotated[int, Field(strict=True, ge=0, le=100)]
    carbs: Annotated[int, Field(strict=True, ge=0, le=100)]
    fat: Annotated[int, Field(strict=True, ge=0, le=100)]

    @model_validator(mode="after")
    def _sums_to_100(self) -> MacroSplit:
        if self.protein + self.carbs + self.fat != 100:
            raise ValueError("protein, carbs and fat must sum to 100")
        return self


class EatingWrite(WriteModel):
    diet: Diet | None = None
    allergies: FoodList = Field(default_factory=list)
    excluded_foods: FoodList = Field(default_factory=list)
    meals_per_day: Annotated[int, Field(strict=True, ge=1, le=8)] | None = None
    macro_split: MacroSplit | None = Field(None, description="Percentages summing to 100")
    calorie_target_override: Annotated[int, Field(strict=True, ge=800, le=10_000)] | None = Field(
        None, description="Set by the user or a dietitian: kept until set to null"
    )

    def columns(self) -> dict[str, Any]:
        data = self.model_dump()
        data["allergies"] = sorted(set(self.allergies), key=str.casefold)
        data["excluded_foods"] = sorted(set(self.excluded_foods), key=str.casefold)
        return data


class Target(BaseModel):
    calorie_target: float | None = Field(description="kcal a day; null while fields are missing")
    target_source: Literal["derived", "override"]
    clamped: bool = Field(description="The goal asked for less than the minimum for the sex")
    missing: list[str]


class Eating(Target):
    user_id: str
    diet: Diet | None
    allergies: list[str]
    excluded_foods: list[str]
    meals_per_day: int | None
    macro_split: MacroSplit | None
    calorie_target_override: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


MAX_RATE = {"weight_loss": 1.0, "weight_gain": 0.5, "maintenance": 0.0}


class GoalWrite(WriteModel):
    goal_type: formulas.GoalType
    target_weight_kg: WeightKg | None = None
    target_date: IsoDate | None = None
    rate_kg_per_week: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _rate_fits_the_goal(self) -> GoalWrite:
        limit = MAX_RATE[self.goal_type]
        if self.rate_kg_per_week is not None and self.rate_kg_per_week > limit:
            raise ValueError(f"rate_kg_per_week is at most {limit:g} for {self.goal_type}")
        if self.target_date is not None and self.target_date <= dt.datetime.now(dt.UTC).date():
            raise ValueError("target_date must be after today")
        return self


class GoalView(BaseModel):
    goal_id: str
    goal_type: formulas.GoalType
    target_weight_kg: float | None
    target_date: dt.date | None
    rate_kg_per_week: float | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    active: bool


class GoalList(BaseModel):
    items: list[GoalView]


CalorieKind = Literal["consumed", "burned_activity", "burned_other"]
MAX_METADATA_BYTES = 4096
MAX_BATCH = 1000
FUTURE_LIMIT = dt.timedelta(hours=24)


def _small_object(value: dict[str, Any]) -> dict[str, Any]:
    check_json_text(value)
    if len(dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


def _not_far_ahead(value: dt.datetime) -> dt.datetime:
    if value > dt.datetime.now(dt.UTC) + FUTURE_LIMIT:
        raise ValueError("must not be more than 24 hours in the future")
    return value


class CalorieWrite(WriteModel):
    event_id: uuid.UUID | None = Field(
        None, description="A client UUID: sending the event again does not count it twice"
    )
    kind: CalorieKind
    kcal: Annotated[
        float,
        Field(strict=True, ge=0, le=20_000, allow_inf_nan=False, description="Kept to 0.001"),
        AfterValidator(lambda kcal: round(kcal, 3)),
    ]
    at: Annotated[BoundedDatetime, AfterValidator(_not_far_ahead)]
    source: Annotated[str, TextRule(64)] | None = None
    note: Annotated[str, TextRule(500, multiline=True)] | None = None
    metadata: Annotated[dict[str, Any], AfterValidator(_small_object)] | None = Field(
        None, description="A JSON object of at most 4 KiB"
    )


class CaloriePost(RootModel[dict[str, Any]]):
    """``POST .../calories``: one event, or ``{"events": [...]}``; validated by
    ``calories.parse``, so that a batch's errors name each bad event's index."""


class CalorieEntry(BaseModel):
    event_id: uuid.UUID
    kind: CalorieKind
    kcal: float
    at: dt.datetime
    source: str | None
    note: str | None
    metadata: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CalorieBatchAnswer(BaseModel):
    items: list[CalorieEntry] = Field(description="The batch's events as stored, in its order")
    created: int
    duplicates: int = Field(description="Events whose event_id was already stored (unchanged)")


class CaloriePage(BaseModel):
    items: list[CalorieEntry]
    next_cursor: str | None


Granularity = Literal["hour", "day", "week", "month", "year"]


class SummaryBucket(BaseModel):
    start: str = Field(
        description="An hour: its local start with the offset; otherwise the local date of its "
        "first day (weeks start on Monday)"
    )
    hours: float | None = Field(None, description="Day buckets: 23 or 25 on a DST change")
    consumed: float
    burned: float = Field(description="burned_activity + burned_other")
    burned_activity: float
    burned_other: float
    count: int
    avg: float | None = Field(description="kcal per event, every kind")
    first: str | None = Field(description="The first event's time, in the user's timezone")
    last: str | None
    days_logged: int | None = Field(None, description="Day and coarser: days with events")
    bmr_burn: float | None = Field(
        None, description="BMR over the logged days (the part that has passed)"
    )
    balance: float | None = Field(
        None, description="consumed - (bmr_burn + burned_activity), over the logged days"
    )
    target: float | None = Field(
        None, description="The calorie targets in force on the logged days, summed"
    )
    variance: float | None = Field(None, description="consumed - target, over those days")


class CalorieSummary(BaseModel):
    user_id: uuid.UUID
    granularity: Granularity
    timezone: str = Field(description="The profile's timezone, which the buckets follow")
    from_: dt.date = Field(alias="from")
    to: dt.date
    missing: list[str] = Field(description="Body metrics the BMR burn still needs")
    buckets: list[SummaryBucket]
