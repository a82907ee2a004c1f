"""API models of the social domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from profilestore.domains.profiles.public import PublicProfile
from profilestore.platform.schemas import WriteModel
from profilestore.platform.types import TextRule

Nickname = Annotated[str, TextRule(64)]


class ContactWrite(WriteModel):
    nickname: Nickname | None = Field(None, description="Private to the owner")
    is_favorite: StrictBool = False


class Contact(BaseModel):
    user_id: uuid.UUID
    contact_user_id: uuid.UUID
    nickname: str | None
    is_favorite: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    profile: PublicProfile | None = Field(description="The contact's public profile")


class ContactPage(BaseModel):
    items: list[Contact]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class BlockWrite(WriteModel):
    reason: Annotated[str, TextRule(280, multiline=True)] | None = Field(
        None, description="Private to the blocker"
    )


class Block(BaseModel):
    user_id: uuid.UUID
    blocked_user_id: uuid.UUID
    reason: str | None
    created_at: dt.datetime


class BlockPage(BaseModel):
    items: list[Block]
    next_cursor: str | None


class BlockCheck(BaseModel):
    a: uuid.UUID
    b: uuid.UUID
    blocked: bool = Field(description="Either blocks the other")
    a_blocks_b: bool
    b_blocks_a: bool
