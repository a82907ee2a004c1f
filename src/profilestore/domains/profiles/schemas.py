"""API models of the profiles domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, StrictBool, StringConstraints

from profilestore.domains.profiles import validation
from profilestore.domains.profiles.custom_fields import ShownValues, WrittenValues
from profilestore.platform.schemas import WriteModel
from profilestore.platform.types import BoundedDatetime, TextRule

Status = Literal["online", "offline", "away", "busy"]
AddressKind = Literal["shipping", "billing"]

Username = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=32, pattern=validation.USERNAME_PATTERN, to_lower=True
    ),
    Field(
        description="3-32 of a-z 0-9 _ and single dots between them, starting with a letter or "
        "digit (`ann.lee_2`; not `.ann`, `ann.`, `a..b`); unique case-insensitively (stored "
        "lower-case); some names are reserved (PROFILESTORE_RESERVED_USERNAMES)"
    ),
]
Timezone = Annotated[
    str,
    StringConstraints(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"),
    AfterValidator(validation.check_timezone),
    Field(examples=["Europe/Berlin"], description="An IANA time zone name"),
]
Locale = Annotated[
    str,
    StringConstraints(max_length=35, pattern=validation.BCP47_PATTERN),
    AfterValidator(validation.check_locale),
    Field(examples=["en-US"], description="A BCP 47 language tag"),
]
Country = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{2}$"),
    AfterValidator(validation.check_country),
    Field(examples=["DE"], description="ISO 3166-1 alpha-2 (case-insensitive; stored upper)"),
]
Preferences = Annotated[
    dict[str, Any],
    AfterValidator(validation.check_preferences),
    Field(description="Free JSON object: at most 16 KiB and 8 levels deep"),
]
AvatarUrl = Annotated[HttpUrl, Field(max_length=2048)]


class ProfileWrite(WriteModel):
    """The writable fields of a profile (PUT replaces all of them; PATCH merges into them)."""

    username: Username
    display_name: Annotated[str, TextRule(64, strip=True, not_blank=True)] | None = Field(
        None, description="Surrounding spaces are trimmed; blank is refused (send null to clear)"
    )
    bio: Annotated[str, TextRule(500, multiline=True)] | None = None
    avatar_url: AvatarUrl | None = None
    locale: Locale | None = None
    timezone: Timezone | None = None
    preferences: Preferences = Field(default_factory=dict)
    fields: WrittenValues = Field(default_factory=dict)
    """Checked against the profile schema by the service (``custom_fields.validate_values``)."""

    def columns(self) -> dict[str, Any]:
        data = self.model_dump()
        data["avatar_url"] = str(self.avatar_url) if self.avatar_url is not None else None
        return data


class PublicProfile(BaseModel):
    """What another signed-in user sees of a profile: the fields whose audience includes them
    (``PATCH .../privacy``); a field hidden from them is left out. A private account shows
    people outside its owner's contacts only the username and the avatar."""

    user_id: uuid.UUID
    username: str
    private_account: bool = False
    display_name: str | None = None
    avatar_url: str | None = None
    bio: str | None = None
    locale: str | None = None
    timezone: str | None = None
    fields: dict[str, Any] = Field(
        default_factory=dict, description="The custom fields shown to you (profile schema)"
    )


class Profile(BaseModel):
    """The whole profile, as the owner, admins and services see it. Presence is not part of
    it (``/v1/presence``): a heartbeat changes neither the profile nor its ETag."""

    user_id: uuid.UUID
    username: str
    display_name: str | None
    avatar_url: str | None
    bio: str | None
    locale: str | None
    timezone: str | None
    preferences: dict[str, Any]
    fields: ShownValues = Field(default_factory=dict)
    private_account: bool = Field(
        False, description="Only your contacts see more than your username and avatar"
    )
    visibility: dict[str, str] = Field(
        default_factory=dict,
        description="Your audience per field where it differs from the default "
        "(GET .../privacy shows every field's)",
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


ALL_FIELDS = tuple(Profile.model_fields)
PUBLIC_FIELDS = ("user_id", "username", "display_name", "avatar_url", "bio")
"""The built-in fields every signed-in user sees by default (before the owner's audiences)."""


class ProfileList(BaseModel):
    """Profiles found, in the order asked; ids without a visible profile are left out."""

    items: list[Profile | PublicProfile]


class Presence(BaseModel):
    user_id: uuid.UUID
    status: Status = Field(description="The highest of the user's live devices' statuses")
    last_seen: dt.datetime | None = Field(None, description="Only for the owner, admins, services")
    devices: int | None = Field(
        None, description="Devices heartbeating now (only for the owner, admins, services)"
    )


class PresenceList(BaseModel):
    """Presence of the visible profiles among the ids asked, in that order."""

    items: list[Presence]


DeviceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"),
    Field(description="The client device (1-64 of A-Za-z0-9._-); one status per device"),
]


class PresenceWrite(WriteModel):
    """A heartbeat: send it more often than PROFILESTORE_PRESENCE_TTL_SECONDS, or the device
    goes offline by itself. ``offline`` ends the device's presence at once."""

    status: Status
    device_id: DeviceId = "default"
    last_seen: BoundedDatetime | None = Field(
        None, description="Defaults to now; a time in the future is refused"
    )


class AddressWrite(WriteModel):
    label: Annotated[str, TextRule(64)] | None = None
    kind: AddressKind
    lines: Annotated[
        list[Annotated[str, TextRule(128, strip=True, not_blank=True)]],
        Field(min_length=1, max_length=4),
    ]
    city: Annotated[str, TextRule(128, strip=True, not_blank=True)]
    region: Annotated[str, TextRule(128)] | None = None
    postal_code: Annotated[str, TextRule(32)] | None = None
    country: Country
    is_default: StrictBool = Field(
        False, description="At most one default per kind; setting one unsets the other"
    )


class Address(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    label: str | None
    kind: AddressKind
    lines: list[str]
    city: str
    region: str | None
    postal_code: str | None
    country: str
    is_default: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class AddressList(BaseModel):
    items: list[Address]
