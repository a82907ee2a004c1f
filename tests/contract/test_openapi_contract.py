"""The API against its own OpenAPI document (schemathesis): for generated requests, valid and
invalid, no 5xx, only documented status codes and content types, responses that match their
schemas, a correct ``Allow`` on 405, and invalid input refused."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from profilestore.app import create_app
from profilestore.migrations import runner
from profilestore.settings import Settings
from tests.support import ADMIN, TEST_SECRET

EXAMPLES_PER_OPERATION = 30
DATA_DIR = Path(tempfile.mkdtemp(prefix="profilestore-contract-"))
DATABASE_URL = f"sqlite+aiosqlite:///{DATA_DIR / 'contract.db'}"

# Building the app connects to nothing; the database is migrated before the first request.
# No in-process relay: it is not part of the HTTP contract and would outlive this module.
APP = create_app(
    Settings(
        database_url=DATABASE_URL,
        jwt_secret=TEST_SECRET,
        data_dir=DATA_DIR,
        log_level="WARNING",
        relay_in_process=False,
        rate_limit_enabled=False,
    )
)
# The event stream stays open for up to `max_seconds` by design; tests/api/test_events.py
# covers it.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path="/v1/events/stream")


@pytest.fixture(scope="module", autouse=True)
def migrated_database() -> Iterator[None]:
    runner.upgrade(DATABASE_URL)
    yield
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_keeps_its_contract(case: schemathesis.Case) -> None:
    # An admin reaches every route, so requests get past access rules to the handlers.
    # "Valid data accepted" is not checked: the document cannot state that `ids` and
    # `username` exclude each other, so some schema-valid requests are rightly refused.
    case.call_and_validate(
        headers=ADMIN, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )
