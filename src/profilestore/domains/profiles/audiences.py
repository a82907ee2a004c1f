"""Audiences: who sees which field of a profile. The one place that turns a stored profile
into what a given viewer may see of it.

Each shown field has an audience: ``public`` (every signed-in user), ``contacts`` (the people
the owner has added as a contact) or ``private`` (the owner, admins and services only), with a
default per field (the built-ins below, and the operator's custom fields from the profile
schema) and the owner's overrides (``visibility``). A private account shows people who are not
its owner's contacts nothing beyond the username and the avatar.

A viewer reaches a profile in one of three ways (``Reach``): ``full`` (the owner, an admin, a
service), ``contacts`` or ``public``; every read of another user's profile (single, batch, by
username, search, embedded in a list, the hub, GraphQL, presence) builds its answer with
``view``."""

from __future__ import annotations

from typing import Any, Literal, get_args

from profilestore.domains.profiles import custom_fields

Audience = Literal["public", "contacts", "private"]
Reach = Literal["full", "contacts", "public"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)

BUILT_IN: dict[str, Audience] = {
    "display_name": "public",
    "avatar_url": "public",
    "bio": "public",
    "locale": "private",
    "timezone": "private",
    "last_seen": "private",
    "status": "public",
}
"""The built-in fields an owner may show or hide, with their default audience (``status`` and
``last_seen`` are the presence's, ``/v1/presence``)."""

ALWAYS_SHOWN = ("user_id", "username", "private_account")
"""Shown to every viewer: who the profile is, and whether it is a private account."""

SHOWN_BY_PRIVATE_ACCOUNTS = frozenset({"avatar_url"})
"""What a private account still shows people outside its contacts (if its audience allows)."""


def custom_defaults() -> dict[str, Audience]:
    """The declared custom fields and their default audience (the profile schema)."""
    return {name: spec.visibility for name, spec in custom_fields.active().fields.items()}


def defaults() -> dict[str, Audience]:
    return {**BUILT_IN, **custom_defaults()}


def effective(overrides: dict[str, Any] | None) -> dict[str, Audience]:
    """Every field's audience: the owner's override where there is one, else the default
    (overrides of fields no longer declared are ignored)."""
    audiences = defaults()
    for name, audience in (overrides or {}).items():
        if name in audiences and audience in AUDIENCES:
            audiences[name] = audience
    return audiences


def sees(audience: Audience, reach: Reach, *, private_account: bool, name: str) -> bool:
    """Whether a viewer of ``reach`` sees a field of ``audience`` (named ``name``)."""
    if reach == "full":
        return True
    if reach == "public" and private_account and name not in SHOWN_BY_PRIVATE_ACCOUNTS:
        return False
    return audience == "public" or (audience == "contacts" and reach == "contacts")


def view(profile: dict[str, Any], reach: Reach) -> dict[str, Any]:
    """What a viewer of ``reach`` sees of ``profile`` (a stored profile with its
    ``visibility`` and ``private_account``): the whole of it for ``full``; else the fields
    their audience shows them, custom ones under ``fields``. A hidden field is left out."""
    if reach == "full":
        return {**profile, "fields": custom_fields.active().shown(profile.get("fields") or {})}
    private_account = bool(profile.get("private_account"))
    audiences = effective(profile.get("visibility"))
    body = {name: profile[name] for name in ALWAYS_SHOWN if name in profile}
    for name in BUILT_IN:
        if name in profile and sees(
            audiences[name], reach, private_account=private_account, name=name
        ):
            body[name] = profile[name]
    stored = profile.get("fields") or {}
    body["fields"] = {
        name: value
        for name, value in stored.items()
        if name in audiences
        and name not in BUILT_IN
        and sees(audiences[name], reach, private_account=private_account, name=name)
    }
    return body


def shows(profile: dict[str, Any], name: str, reach: Reach) -> bool:
    """Whether a viewer of ``reach`` sees the field ``name`` of ``profile`` (``last_seen``,
    which lives outside the profile's representation)."""
    audience = effective(profile.get("visibility")).get(name, "private")
    return sees(audience, reach, private_account=bool(profile.get("private_account")), name=name)


def row_view(row: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """What the viewer sees of a profile read through ``service.visible_reads`` (whose rows
    say whether the owner has the viewer among their contacts)."""
    profile = {name: value for name, value in row.items() if name != "viewer_is_contact"}
    if full:
        return profile
    return view(profile, "contacts" if row.get("viewer_is_contact") else "public")
