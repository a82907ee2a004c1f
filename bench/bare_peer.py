"""The bare peer of ``profiles_read.py``: the least a Python service can do to serve one profile.

FastAPI + an asyncpg pool, one route, ``GET /profiles/{user_id}``: one ``SELECT`` by primary key,
the row as JSON (orjson), 404 if missing. No auth, no middleware, no ORM, no logging. It is the
ceiling profilestore is measured against, not a service anyone should run.

``nutrition.py`` uses a second route, ``GET /calorie-summary/{user_id}?from=&to=``: the seed's
``daily_calorie_summary`` view for those days (one ``SELECT``, the rows as JSON), served the same
bare way (the route exists only in databases that have the view).

Run by the benchmark as::

    BARE_PEER_DSN=postgresql://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/uvicorn bare_peer:create_app --factory --app-dir bench --workers 2 ...
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import FastAPI, Query
from starlette.responses import Response

# The same columns, in the same order, as profilestore's full (admin) view of a profile.
COLUMNS = (
    "user_id",
    "username",
    "display_name",
    "avatar_url",
    "bio",
    "locale",
    "timezone",
    "preferences",
    "created_at",
    "updated_at",
    "version",
)
QUERY = f"SELECT {', '.join(COLUMNS)} FROM profiles WHERE user_id = $1"
NOT_FOUND = orjson.dumps({"detail": "not found"})
# The seed's view, as its own code read a range of days (nutrition.py creates it).
SUMMARY_QUERY = (
    "SELECT * FROM daily_calorie_summary"
    " WHERE user_id = $1 AND day_bucket >= $2 AND day_bucket < $3"
)


def _default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not serialise natively; the
    # view's sums and averages are numeric (Decimal): as JSON numbers.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb as a decoded object, like profilestore returns it (not a JSON string).
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=orjson.dumps, decoder=orjson.loads, format="text"
    )


def create_app() -> FastAPI:
    dsn = os.environ["BARE_PEER_DSN"]
    max_size = int(os.environ.get("BARE_PEER_POOL_SIZE", "20"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_size, init=_init_connection
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/profiles/{user_id}")
    async def get_profile(user_id: uuid.UUID) -> Response:
        row = await app.state.pool.fetchrow(QUERY, user_id)
        if row is None:
            return Response(NOT_FOUND, status_code=404, media_type="application/json")
        body = orjson.dumps(dict(row), default=_default, option=orjson.OPT_UTC_Z)
        return Response(body, media_type="application/json")

    @app.get("/calorie-summary/{user_id}")
    async def calorie_summary(
        user_id: uuid.UUID,
        first: Annotated[dt.date, Query(alias="from")],
        last: Annotated[dt.date, Query(alias="to")],
    ) -> Response:
        low = dt.datetime.combine(first, dt.time())
        high = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
        rows = await app.state.pool.fetch(SUMMARY_QUERY, user_id, low, high)
        answer = {"user_id": user_id, "from": first, "to": last, "days": [dict(r) for r in rows]}
        return Response(orjson.dumps(answer, default=_default), media_type="application/json")

    return app
