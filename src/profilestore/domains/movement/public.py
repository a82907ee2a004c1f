"""What the command line (and other domains) may use of the movement domain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.movement import catalogue

SAMPLE_CATALOGUE = Path(__file__).with_name("programs.json")

__all__ = ["SAMPLE_CATALOGUE", "load_programs", "read_catalogue"]


async def load_programs(session: AsyncSession, payload: Any) -> dict[str, int]:
    """Create or replace the programmes of a catalogue (a JSON array, as in ``programs.json``);
    counts of created, updated and unchanged. Refused whole if one entry is invalid."""
    return await catalogue.load(session, catalogue.parse_catalogue(payload))


def read_catalogue(path: Path) -> Any:
    return json.loads(path.read_text())
