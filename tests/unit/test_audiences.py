"""The audience rule as a property: for any mix of per-field audiences, any private switch and
any reach, a view holds exactly the fields the rule (written out here on its own) allows."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from profilestore.domains.profiles import audiences

PROFILE_FIELDS = ("display_name", "avatar_url", "bio", "locale", "timezone")
overrides = st.dictionaries(st.sampled_from(PROFILE_FIELDS), st.sampled_from(audiences.AUDIENCES))


def allowed(audience: str, reach: str, private_account: bool, name: str) -> bool:
    if reach == "full":
        return True
    if private_account and reach == "public" and name != "avatar_url":
        return False
    return {"public": True, "contacts": reach == "contacts", "private": False}[audience]


def profile(visibility: dict[str, str], private_account: bool) -> dict[str, Any]:
    values = {name: f"value of {name}" for name in PROFILE_FIELDS}
    return {
        "user_id": uuid.uuid4(),
        "username": "ann",
        "private_account": private_account,
        "visibility": visibility,
        "preferences": {"secret": True},
        "fields": {},
        **values,
    }


@given(overrides, st.booleans(), st.sampled_from(["full", "contacts", "public"]))
def test_a_view_holds_exactly_what_the_rule_allows(
    visibility: dict[str, str], private_account: bool, reach: Any
) -> None:
    shown = audiences.view(profile(visibility, private_account), reach)
    for name in PROFILE_FIELDS:
        audience = visibility.get(name, audiences.BUILT_IN[name])
        assert (name in shown) is allowed(audience, reach, private_account, name), name
    assert {"user_id", "username", "private_account"} <= set(shown)
    assert ("preferences" in shown) is (reach == "full")


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12)), st.booleans())
def test_unknown_or_bad_overrides_fall_back_to_the_defaults(
    junk: dict[str, str], private_account: bool
) -> None:
    visibility = {name: value for name, value in junk.items() if value not in audiences.AUDIENCES}
    shown = audiences.view(profile(visibility, private_account), "public")
    expected = {"display_name", "avatar_url", "bio"} - (
        {"display_name", "bio"} if private_account else set()
    )
    assert {name for name in PROFILE_FIELDS if name in shown} == expected
