"""The programme catalogue: listed to anyone signed in, written by admins (one at a time, or a
whole catalogue file from the command line)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.movement.models import Program
from profilestore.domains.movement.schemas import ProgramCreate, ProgramWrite
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import ProblemError, not_found, validation_problem

FIELDS = tuple(ProgramWrite.model_fields)
MAX_CATALOGUE = 10_000


def program_view(row: Program) -> dict[str, Any]:
    return {
        "program_id": row.program_id,
        **{name: getattr(row, name) for name in FIELDS},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }


async def page(
    session: AsyncSession,
    *,
    goal: str | None,
    level: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Program], str | None]:
    """Programmes in id order after ``cursor`` (the last id of the previous page)."""
    statement = select(Program).order_by(Program.program_id)
    if level is not None:
        statement = statement.where(Program.level == level)
    if cursor is not None:
        statement = statement.where(Program.program_id > cursor)
    rows = [r for r in (await session.execute(statement)).scalars() if _has_goal(r, goal)]
    chosen = rows[:limit]
    return chosen, chosen[-1].program_id if len(rows) > limit else None


def _has_goal(row: Program, goal: str | None) -> bool:
    return goal is None or goal in row.goals


async def all_programs(session: AsyncSession) -> list[Program]:
    statement = select(Program).order_by(Program.program_id).limit(MAX_CATALOGUE)
    return list((await session.execute(statement)).scalars())


async def get_program(session: AsyncSession, program_id: str) -> Program:
    row = await session.get(Program, program_id)
    if row is None:
        raise not_found("program")
    return row


async def create_program(session: AsyncSession, data: ProgramCreate) -> Program:
    if await session.get(Program, data.program_id) is not None:
        raise ProblemError(409, "conflict", f"Program {data.program_id!r} exists; PUT replaces it.")
    return await _write(session, data.program_id, None, data)


async def put_program(
    session: AsyncSession, program_id: str, data: ProgramWrite, *, if_match: str | None
) -> tuple[Program, bool]:
    row = await session.get(Program, program_id, with_for_update=True)
    check_if_match_tag(session, if_match, etag(row.version) if row else None)
    return await _write(session, program_id, row, data), row is None


async def delete_program(session: AsyncSession, program_id: str) -> None:
    """Idempotent: removing what is not there changes nothing."""
    await session.execute(delete(Program).where(Program.program_id == program_id))


async def _write(
    session: AsyncSession, program_id: str, row: Program | None, data: ProgramWrite
) -> Program:
    columns = data.model_dump(include=set(FIELDS))
    if row is not None and all(getattr(row, k) == v for k, v in columns.items()):
        return row
    now = utcnow()
    if row is None:
        row = Program(program_id=program_id, created_at=now, version=0)
        session.add(row)
    for name, value in columns.items():
        setattr(row, name, value)
    row.updated_at = now
    row.version += 1
    await session.flush()
    return row


CATALOGUE = TypeAdapter(list[ProgramCreate])


def parse_catalogue(payload: Any) -> list[ProgramCreate]:
    """A catalogue file's programmes; 422-style errors naming each bad entry and field."""
    try:
        programs = CATALOGUE.validate_python(payload)
    except ValidationError as exc:
        raise validation_problem([dict(e) for e in exc.errors()]) from None
    ids = [p.program_id for p in programs]
    if len(ids) != len(set(ids)) or len(ids) > MAX_CATALOGUE:
        raise ProblemError(422, "validation-error", "program ids must be unique (at most 10000)")
    return programs


async def load(session: AsyncSession, programs: list[ProgramCreate]) -> dict[str, int]:
    """Create or replace each programme; counts of ``created``, ``updated``, ``unchanged``."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for program in programs:
        row = await session.get(Program, program.program_id)
        version = row.version if row else 0
        written = await _write(session, program.program_id, row, program)
        key = "created" if row is None else "updated" if written.version != version else "unchanged"
        counts[key] += 1
    return counts
