"""The import's report: what was added, every row or value not imported and why, and the
verification table; and the exit status they make."""

from __future__ import annotations

from dataclasses import dataclass, field

from profilestore.importers.calorie_balance.conversions import Skip
from profilestore.importers.calorie_balance.mapping import AccountPlan
from profilestore.importers.calorie_balance.verify import UserCheck, table
from profilestore.importers.calorie_balance.writer import Written

DIFFERENCE_EXIT = 1
SKIPS_EXIT = 3


@dataclass
class ImportReport:
    users: int = 0
    profiles: int = 0
    bodies: int = 0
    goals: int = 0
    weights: int = 0
    events: int = 0
    metabolic_profiles: int = 0
    skips: list[Skip] = field(default_factory=list)
    checks: list[UserCheck] = field(default_factory=list)

    def add(self, plan: AccountPlan, written: Written) -> None:
        self.users += 1
        self.profiles += written.profile
        self.bodies += written.body
        self.goals += written.goals
        self.weights += written.weights
        self.events += written.events
        self.metabolic_profiles += plan.metabolic_profiles
        self.skips += plan.skips

    @property
    def differing(self) -> list[UserCheck]:
        return [check for check in self.checks if check.problems]

    def exit_code(self, *, allow_skips: bool) -> int:
        """1 if the verification found a difference; else 3 if rows were skipped (unless
        allowed); else 0."""
        if self.differing:
            return DIFFERENCE_EXIT
        return SKIPS_EXIT if self.skips and not allow_skips else 0

    def lines(self, *, allow_skips: bool) -> list[str]:
        found = [
            f"imported {self.users} users: added {self.profiles} profiles, {self.bodies} body "
            f"metrics, {self.goals} goals, {self.weights} weights, {self.events} calorie events",
            f"not imported by design: {self.metabolic_profiles} metabolic profiles (BMR and "
            "TDEE are derived here from the body metrics)",
        ]
        if self.skips:
            found.append(f"skipped {len(self.skips)} rows or values:")
            found += [f"  {skip.line()}" for skip in self.skips]
        found.append("verification (source / here):")
        found += [f"  {line}" for line in table(self.checks)]
        return found + self._verdict(allow_skips)

    def _verdict(self, allow_skips: bool) -> list[str]:
        if self.differing:
            return [f"verification FAILED: {len(self.differing)} users differ"]
        verdict = [f"verification passed for {len(self.checks)} users"]
        if self.skips and not allow_skips:
            verdict.append(
                f"{len(self.skips)} rows or values were not imported (listed above): fix them "
                "in the source and run the import again, or accept them with --allow-skips"
            )
        return verdict
