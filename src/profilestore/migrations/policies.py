"""The row-level security policies, one declaration per table, and the roles they are for.

Every migration run on PostgreSQL ends by applying them (``env.py``, ``row_security.secure``):
each table that exists gets row security enabled, its grants and its policies dropped and
created again from the declaration here, so a table a later revision adds is covered as soon
as it is declared, a split deployment gets the policies of the tables it has, and an existing
database gets them on its next ``profilestore db upgrade``. A table with no declaration gets
no grant: the application role cannot touch it (deny by default; a test fails on it).

The policies read the identity ``platform.rls`` sets in every transaction. Row security is
not forced: the tables' owner (the login role that migrates) bypasses it, so a deployment
without ``PROFILESTORE_DATABASE_ROLE`` behaves as before. Which rows each identity reaches:

- ``user``: their own rows, and the public ones: every profile row (which fields of another
  user's profile may be shown stays the application's rule, as do blocks), the video rating
  aggregates, the programme catalogue, and (signed in) the ratings behind public reviews; plus
  the rows of other users that point at them, which the block filter reads and erasure removes
  (a block or a contact of them);
- ``admin``, ``service``, ``system``: every row (the access rules already let admins and
  services across users; ``system`` is the relay, sweepers and jobs);
- ``anonymous``: the public rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_ROLE = "profilestore_app"
"""The role the application runs as: every declared table's rows, through the policies."""
RELAY_ROLE = "profilestore_relay"
"""The role the relay process runs as: the outbox, its lease and expired idempotency records."""

ME = "NULLIF(current_setting('profilestore.user_id', true), '')::uuid"
MY_ID = "NULLIF(current_setting('profilestore.user_id', true), '')"
SUBJECT = "current_setting('profilestore.subject', true)"
ROLE = "current_setting('profilestore.role', true)"
PRIVILEGED = f"{ROLE} IN ('admin', 'service', 'system')"
SIGNED_IN = f"{ROLE} IN ('user', 'admin', 'service', 'system')"
ANYONE = "true"


def either(*conditions: str) -> str:
    return " OR ".join(f"({condition})" for condition in conditions)


def mine(column: str = "user_id") -> str:
    return f"{column} = {ME}"


@dataclass(frozen=True)
class Policy:
    """Who reaches which rows of one table, per command: SQL conditions on the row."""

    select: str
    insert: str
    update: str
    delete: str

    def commands(self) -> dict[str, str]:
        return {
            "select": self.select,
            "insert": self.insert,
            "update": self.update,
            "delete": self.delete,
        }


def only(condition: str) -> Policy:
    """One condition for every command."""
    return Policy(select=condition, insert=condition, update=condition, delete=condition)


def private(read: str | None = None, delete: str | None = None) -> Policy:
    """The user's own rows (and privileged callers'); ``read``/``delete`` widen those two."""
    own = either(mine(), PRIVILEGED)
    return Policy(select=read or own, insert=own, update=own, delete=delete or own)


def public(write: str) -> Policy:
    """Rows anyone may read; ``write`` says who may change them."""
    return Policy(select=ANYONE, insert=write, update=write, delete=write)


POINTING_AT_ME_CONTACTS = either(mine(), mine("contact_user_id"), PRIVILEGED)
POINTING_AT_ME_BLOCKS = either(mine(), mine("blocked_user_id"), PRIVILEGED)
POINTING_AT_ME_FOLLOWS = either(mine(), mine("followed_user_id"), PRIVILEGED)
POINTING_AT_ME_MUTES = either(mine(), mine("muted_user_id"), PRIVILEGED)
POINTING_AT_ME_REQUESTS = either(mine(), mine("requester_user_id"), PRIVILEGED)

POLICIES: dict[str, Policy] = {
    # platform
    "outbox": Policy(
        # An insert's RETURNING must see the new row, and a write may announce a change to
        # another user (a cascade removing their contact of the writer): unpublished rows are
        # readable to writers. No user route reads the outbox (the feed is admin or service).
        select=either(f"aggregateid = {MY_ID}", "published_at IS NULL", PRIVILEGED),
        insert=SIGNED_IN,
        update=PRIVILEGED,
        delete=either(f"aggregateid = {MY_ID}", PRIVILEGED),
    ),
    "relay_leases": only(PRIVILEGED),
    "idempotency_keys": only(either(f"caller = {SUBJECT}", PRIVILEGED)),
    "owners": private(),
    "erasure_requests": private(),
    "audit_log": Policy(  # the actor may read what they wrote of another user (RETURNING)
        select=either(mine(), f"actor = {SUBJECT}", PRIVILEGED),
        insert=either(mine(), f"actor = {SUBJECT}", PRIVILEGED),
        update=PRIVILEGED,
        delete=either(mine(), PRIVILEGED),
    ),
    # profiles
    "profiles": private(read=ANYONE),
    "addresses": private(),
    # a claim checks every user's holds (the hold's owner is never shown)
    "username_holds": private(read=SIGNED_IN),
    "username_changes": private(),
    # people search reads every user's words, as every profile row (whose display name the
    # words repeat): which of them a caller may match stays the application's rule, as for
    # the profile's fields (the audience of the display name, checked on the profile row)
    "profile_search_words": private(read=ANYONE),
    # any signed-in writer of a profile adds the words it is the first to use (no user data)
    "search_words": public(SIGNED_IN),
    # social
    "contacts": private(read=POINTING_AT_ME_CONTACTS, delete=POINTING_AT_ME_CONTACTS),
    "blocks": private(read=POINTING_AT_ME_BLOCKS, delete=POINTING_AT_ME_BLOCKS),
    # follow lists are read by any signed-in user; a follow writes the other user's counts;
    # the followed user accepts a request (writing the follower's follow) and removes followers
    "follows": Policy(
        select=SIGNED_IN,
        insert=POINTING_AT_ME_FOLLOWS,
        update=either(mine(), PRIVILEGED),
        delete=POINTING_AT_ME_FOLLOWS,
    ),
    "follow_counts": Policy(
        select=SIGNED_IN, insert=SIGNED_IN, update=SIGNED_IN, delete=either(mine(), PRIVILEGED)
    ),
    "mutes": private(read=POINTING_AT_ME_MUTES, delete=POINTING_AT_ME_MUTES),
    # the requester makes (and cancels) the row of the account asked, who reads and ends it
    "follow_requests": Policy(
        select=POINTING_AT_ME_REQUESTS,
        insert=either(mine("requester_user_id"), PRIVILEGED),
        update=either(mine("requester_user_id"), PRIVILEGED),
        delete=POINTING_AT_ME_REQUESTS,
    ),
    # media
    "media_viewers": private(),
    "media_watchlist": private(),
    "media_resume_points": private(),
    "media_history": private(),
    "media_ratings": private(
        read=either(mine(), f"review IS NOT NULL AND {SIGNED_IN}", PRIVILEGED)
    ),
    "media_video_ratings": public(SIGNED_IN),
    # nutrition
    "nutrition_body": private(),
    "nutrition_weights": private(),
    "nutrition_eating": private(),
    "nutrition_goals": private(),
    "nutrition_targets": private(),
    "nutrition_calories": private(),
    "nutrition_calories_hourly": private(),
    "nutrition_calories_daily": private(),
    "nutrition_rollup_zone": private(),
    # movement
    "movement_profiles": private(),
    "movement_programs": public(PRIVILEGED),
}
