"""``profilestore schema check``: the stored custom field values against a profile schema.

It reports what a schema change left behind, without changing anything: values stored under
names the schema no longer declares (kept by every write, never shown), values that no longer
pass their field's rule, and profiles without a value of a required field."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from profilestore.domains.profiles.custom_fields import ProfileSchema, SchemaError, load
from profilestore.domains.profiles.models import Profile
from profilestore.platform.db import Database
from profilestore.settings import Settings

EXAMPLES = 5
"""User ids shown per reported field and rule."""

CLEAN, REPORTED, BAD_SCHEMA = 0, 1, 2


@dataclass
class Finding:
    """Profiles that share one problem: how many, and the first few of them."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, user_id: Any) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(str(user_id))


@dataclass
class Report:
    profiles: int = 0
    undeclared: Counter[str] = field(default_factory=Counter)
    invalid: defaultdict[tuple[str, str], Finding] = field(
        default_factory=lambda: defaultdict(Finding)
    )
    missing: defaultdict[str, Finding] = field(default_factory=lambda: defaultdict(Finding))

    @property
    def clean(self) -> bool:
        return not (self.undeclared or self.invalid or self.missing)

    def add(self, schema: ProfileSchema, user_id: Any, values: Mapping[str, Any]) -> None:
        """Record what is wrong with one profile's stored ``values``."""
        self.profiles += 1
        for name, value in values.items():
            if name not in schema.fields:
                self.undeclared[name] += 1
            elif value is not None:
                for error in schema.errors(name, value)[:1]:
                    message = error["msg"].removeprefix("Value error, ")
                    self.invalid[name, message].add(user_id)
        for spec in schema.required():
            if values.get(spec.name) is None:
                self.missing[spec.name].add(user_id)

    def lines(self) -> Iterator[str]:
        for name, count in sorted(self.undeclared.items()):
            yield f"undeclared: {name}: {count} profile(s) keep a value the schema does not declare"
        for (name, message), finding in sorted(self.invalid.items()):
            yield f"invalid: {name}: {finding.count} profile(s): {message} ({_ids(finding)})"
        for name, finding in sorted(self.missing.items()):
            yield (
                f"missing: {name}: {finding.count} profile(s) without this required field "
                f"({_ids(finding)})"
            )
        summary = "clean" if self.clean else "problems found"
        yield f"checked {self.profiles} profile(s): {summary}"


def _ids(finding: Finding) -> str:
    more = ", ..." if finding.count > len(finding.examples) else ""
    return "e.g. " + ", ".join(finding.examples) + more


async def check(settings: Settings, schema: ProfileSchema) -> Report:
    """Read every profile's custom values (streamed) and report on them."""
    database = Database(settings)
    report = Report()
    statement = select(Profile.user_id, Profile.fields).order_by(Profile.user_id)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.stream(statement)
            async for user_id, values in rows:
                report.add(schema, user_id, values or {})
    finally:
        await database.dispose()
    return report


def run(settings: Settings, path: Path | None, echo: Callable[..., None]) -> int:
    """The command: the exit status (0 clean, 1 reported something, 2 no usable schema)."""
    import asyncio

    path = path or settings.profile_schema
    if path is None:
        echo("no profile schema: give its file or set PROFILESTORE_PROFILE_SCHEMA", err=True)
        return BAD_SCHEMA
    try:
        schema = load(path)
    except SchemaError as exc:
        echo(str(exc), err=True)
        return BAD_SCHEMA
    report = asyncio.run(check(settings, schema))
    for line in report.lines():
        echo(line)
    return CLEAN if report.clean else REPORTED
