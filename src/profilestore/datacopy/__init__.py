"""``profilestore db copy`` and ``db verify``: move a whole database to another backend
(SQLite → PostgreSQL, PostgreSQL → PostgreSQL) and prove the copy equal.

- ``transfer``: the source must be at the schema this code knows (every Alembic revision it is
  at is a head); the target is migrated to the source's revisions first, so a database of some
  domains gives a target of the same domains. Every model table the source holds
  (``alembic_version`` aside) is copied parents first through SQLAlchemy Core with the models'
  ``Table`` objects, so UUIDs, UTC datetimes, JSON/JSONB and bytes are converted by the code
  that writes them in the service; a JSON column's SQL ``NULL`` and JSON ``null`` stay
  distinct. Rows go in primary-key order, each batch in its own target transaction, so an
  interrupted copy leaves every table a prefix of the source's; ``--resume`` goes on after it
  (no side table). PostgreSQL sequences are set past the copied keys.
- ``verify``: per table, the row count and an order-independent checksum on both sides.
- ``progress``: the progress bar (rows and rows/s per table), or a line per table.
- ``database``: URL checks and the refusals, and what both sides read.
"""

from __future__ import annotations

from profilestore.datacopy.database import CopyRefused
from profilestore.datacopy.progress import CopyProgress, console_progress
from profilestore.datacopy.transfer import copy_database
from profilestore.datacopy.verify import TableCheck, all_equal, report_lines, verify_database

__all__ = [
    "CopyProgress",
    "CopyRefused",
    "TableCheck",
    "all_equal",
    "console_progress",
    "copy_database",
    "report_lines",
    "verify_database",
]
