"""The calorie-balance import's conversions, without a database: an age becomes a birth date
that gives that age; a legacy wall-clock time becomes an instant (DST gap and repeat included);
a user whose username our rules refuse is skipped whole; one weight a day is kept."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from profilestore.domains.nutrition.formulas import age_on
from profilestore.importers.calorie_balance.conversions import Skip, birth_date_for, instant
from profilestore.importers.calorie_balance.legacy import LegacyAccount, LegacyEvent, LegacyUser
from profilestore.importers.calorie_balance.mapping import AccountPlan, plan_account

ROME = ZoneInfo("Europe/Rome")
NOW = dt.datetime(2025, 9, 7, 12, tzinfo=dt.UTC)


@given(st.integers(min_value=0, max_value=120), st.dates(dt.date(2020, 1, 1), dt.date(2100, 1, 1)))
def test_the_birth_date_gives_the_legacy_age_on_the_day_it_was_recorded(
    age: int, on: dt.date
) -> None:
    assert age_on(birth_date_for(age, on), on) == age


def test_wall_clock_times_of_the_zone_become_instants() -> None:
    autumn = instant(dt.datetime(2024, 10, 27, 2, 30), ROME)
    assert autumn == dt.datetime(2024, 10, 27, 0, 30, tzinfo=dt.UTC)  # the first 02:30
    spring = instant(dt.datetime(2024, 3, 31, 2, 30), ROME)
    assert spring == dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC)  # 03:30 on the clock
    assert instant(dt.datetime(2024, 1, 1, 0, 30), ZoneInfo("UTC")).hour == 0  # type: ignore[union-attr]
    assert instant(dt.datetime.max, ROME) is None
    assert instant(dt.datetime(1850, 1, 1), ROME) is None
    assert instant(None, ROME) is None


def account(username: str, *events: tuple[str, str, dt.datetime]) -> LegacyAccount:
    user = LegacyUser(uuid.uuid4(), username, None)
    rows = [LegacyEvent(uuid.uuid4(), kind, Decimal(amount), at, {}) for kind, amount, at in events]
    return LegacyAccount(user, events=rows)


def test_a_username_our_rules_refuse_skips_the_whole_user() -> None:
    evening = dt.datetime(2024, 5, 1, 20)
    refused = plan_account(account("Ann Lee", ("consumed", "10.00", evening)), None, NOW)
    assert isinstance(refused, Skip) and refused.table == "users"
    assert refused.reason.startswith("username 'Ann Lee': username: String should match")
    assert refused.reason.endswith("(the user is not imported, with 1 events)")
    kept = plan_account(account("Ann.Lee"), "Europe/Rome", NOW)
    assert isinstance(kept, AccountPlan)
    assert (kept.profile.username, kept.profile.timezone) == ("ann.lee", "Europe/Rome")


def test_the_last_weight_of_a_local_day_is_kept_and_the_earlier_ones_listed() -> None:
    late, later = dt.datetime(2024, 5, 1, 23, 30), dt.datetime(2024, 5, 1, 23, 50)
    legacy = account("ann", ("weight", "70.00", late), ("weight", "69.50", later))
    plan = plan_account(legacy, "Europe/Rome", NOW)
    assert isinstance(plan, AccountPlan)
    assert [(w.day, w.weight_kg) for w in plan.weights] == [(dt.date(2024, 5, 1), 69.5)]
    assert [skip.row_id for skip in plan.skips] == [legacy.events[0].id]
