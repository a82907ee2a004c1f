"""``profilestore import calorie-balance``: the legacy calorie-balance service's database
(users, user_profiles, calorie_goals, metabolic_profiles, calorie_events) into the profiles
and nutrition domains, then a per-user verification. See docs/nutrition.md."""

from profilestore.importers.calorie_balance.report import ImportReport
from profilestore.importers.calorie_balance.run import ImportRefused, import_calorie_balance

__all__ = ["ImportRefused", "ImportReport", "import_calorie_balance"]
