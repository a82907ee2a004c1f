"""Schemathesis against the live service on PostgreSQL: ``profilestore serve`` as a real
process, every check (``--checks all``), positive and negative data, the stateful phase, and
fixed users so that most calls reach real rows (the path ids of a seeded user, their contact,
their block and their address). The run fails on any 5xx, and on every check the service is
meant to hold; what the remaining checks report is printed for the reader."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.serving import BIN, postgres_env, running_server
from tests.support import bearer, postgres_database, token

TIME_BUDGET_SECONDS = 90
EXAMPLES_PER_OPERATION = 40
# Checks a failure of which fails the run. The others are reported: `positive_data_acceptance`
# cannot hold where the document cannot state a rule (`ids` and `username` exclude each other;
# a contact of a user who blocks you is 404), and `ensure_resource_availability` /
# `use_after_free` / `ignored_auth` / `object_level_authorization` need links and a second
# identity that a single fixed user does not give.
AST_THREAD_BUG = "AST constructor recursion depth mismatch"
HELD = {
    "ST101": "server error",
    "ST102": "server error on an undeclared Content-Type",
    "ST103": "undocumented status code",
    "ST104": "missing Content-Type",
    "ST105": "undocumented Content-Type",
    "ST107": "missing required response header",
    "ST108": "response violates its schema",
    "ST109": "invalid JSON body",
    "ST201": "schema-violating request accepted",
    "ST203": "missing required header accepted",
    "ST204": "wrong answer to an undeclared method",
    "ST205": "Allow header mismatch",
    "error": "the run itself failed",
}


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    with (
        postgres_database() as url,
        running_server(postgres_env(url, tmp / "var", database_pool_size="5"), tmp) as (base, _),
    ):
        yield base


def _seed(base: str) -> dict[str, str]:
    """A user with a profile, an address, a contact and a block (each other user exists)."""
    user, friend, blocked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with httpx.Client(base_url=base) as http:
        for who in (user, friend, blocked):
            body = {"username": f"st{who.hex[:10]}", "bio": "seeded"}
            assert http.put(f"/v1/profiles/{who}", json=body, headers=bearer(who)).is_success
        me = bearer(user)
        assert http.put(f"/v1/profiles/{user}/contacts/{friend}", headers=me).is_success
        assert http.put(f"/v1/profiles/{user}/blocks/{blocked}", headers=me).is_success
        address = http.post(
            f"/v1/profiles/{user}/addresses",
            json={"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"},
            headers=me,
        )
        assert address.is_success, address.text
    return {
        "user_id": str(user),
        "contact_user_id": str(friend),
        "blocked_user_id": str(blocked),
        "address_id": address.json()["id"],
    }


def _failures(junit: Path) -> dict[str, list[str]]:
    """Failure messages of the run, by schemathesis failure code (``st explain --list``)."""
    by_code: dict[str, list[str]] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        for failure in (*case.iter("failure"), *case.iter("error")):
            text = f"{failure.get('message', '')}\n{failure.text or ''}"
            for code in sorted(set(re.findall(r"\bST\d{3}\b", text))) or ["error"]:
                by_code.setdefault(code, []).append(f"{case.get('name')}: {text.strip()[:600]}")
    return by_code


@pytest.mark.slow
def test_live_service_keeps_its_contract(live_service: str, tmp_path: Path) -> None:
    ids = _seed(live_service)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n" + "".join(f'"path.{name}" = "{value}"\n' for name, value in ids.items())
    )
    junit = tmp_path / "junit.xml"
    command = [
        str(BIN / "st"),
        "--config-file",
        str(config),
        "run",
        f"{live_service}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--max-time",
        str(TIME_BUDGET_SECONDS),
        "--workers",
        "2",
        "--seed",
        "8",
        "--exclude-path",
        "/v1/events/stream",
        "--exclude-path",
        "/v1/presence/stream",
        "--header",
        f"Authorization: Bearer {token(ids['user_id'])}",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
        "--generation-database",
        "none",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=TIME_BUDGET_SECONDS * 3)
    assert junit.exists(), run.stdout[-4000:] + run.stderr[-2000:]
    failures = _failures(junit)
    # CPython 3.11's ast.parse is not thread-safe (gh-106905): hypothesis, describing a lambda
    # while the other schemathesis worker does the same, can fail with this. The tool's error,
    # not the service's answer: counted, not held.
    tool_noise = [m for m in failures.get("error", []) if AST_THREAD_BUG in m]
    if tool_noise:
        print(f"{len(tool_noise)} schemathesis run errors from CPython's ast thread bug")
        failures["error"] = [m for m in failures["error"] if AST_THREAD_BUG not in m]
        if not failures["error"]:
            del failures["error"]
    report = {code: len(messages) for code, messages in failures.items()}
    print("schemathesis findings by code:", json.dumps(report, sort_keys=True))
    for code, messages in sorted(failures.items()):
        print(f"--- {code}\n" + "\n".join(messages[:5]))
    held = {f"{code} ({HELD[code]})": failures[code] for code in HELD if code in failures}
    assert not held, json.dumps(held, indent=1)[:8000]
