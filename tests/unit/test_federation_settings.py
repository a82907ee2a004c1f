"""The hub's federation settings (PROFILESTORE_HUB_DOMAINS, PROFILESTORE_HUB_TIMEOUT_MS) and
the circuit breaker's probe."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from profilestore.domains.registry import DOMAINS
from profilestore.platform.breaker import CircuitBreaker
from profilestore.settings import HUB_REMOTE_SECTIONS, Settings


def hub_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"PROFILESTORE_{name.upper()}", value)
    return Settings()


def test_hub_domains_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = hub_settings(
        monkeypatch,
        hub_domains='{"nutrition": "http://127.0.0.1:8101/", "movement": "https://m.internal/x"}',
    )
    assert settings.hub_domains == {
        "nutrition": "http://127.0.0.1:8101",
        "movement": "https://m.internal/x",
    }
    assert (settings.hub_timeout_ms, settings.hub_breaker_failures) == (800, 3)
    assert hub_settings(monkeypatch, hub_domains="").hub_domains == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"nutrtion": "http://a:1"}', "unknown section 'nutrtion'"),
        ('{"identity": "http://a:1"}', "always read locally"),
        ('{"nutrition": "ftp://a"}', "not an http:// or https:// URL"),
        ('{"nutrition": "127.0.0.1:8101"}', "not an http:// or https:// URL"),
        ('{"nutrition": "http://a/?x=1"}', "without query"),
        ('{"nutrition": "http://u:p@a"}', "without query or credentials"),
        ("nutrition=http://a", "must be a JSON object"),
        ('["http://a"]', "valid dictionary"),
    ],
)
def test_bad_hub_domains_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match="hub_domains") as refused:
        hub_settings(monkeypatch, hub_domains=value)
    assert message in str(refused.value)


@pytest.mark.parametrize("value", ["0", "9", "60001", "soon"])
def test_the_budget_is_bounded(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match="hub_timeout_ms"):
        hub_settings(monkeypatch, hub_timeout_ms=value)


def test_every_section_but_the_anchor_can_be_remote() -> None:
    parts = [domain.hub_part for domain in DOMAINS if domain.hub_part is not None]
    assert {part.name for part in parts if not part.anchor} == HUB_REMOTE_SECTIONS


def test_an_abandoned_probe_lets_another_probe_go() -> None:
    breaker = CircuitBreaker("test-abandon", failures_to_open=1, cool_down_seconds=0)
    breaker.failure()
    assert breaker.is_open and breaker.allow()  # the probe
    assert not breaker.allow()  # one probe at a time
    breaker.abandon()  # cancelled without a verdict
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open and breaker.allow()
