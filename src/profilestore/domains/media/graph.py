"""The media domain in GraphQL: the watchlist and continue watching of a viewer profile."""

from __future__ import annotations

from profilestore.domains.media.schemas import ResumePoint, WatchlistItem
from profilestore.platform.graphqlspec import DomainGraph, GraphArg, GraphField

BASE = "/v1/profiles/{user_id}"
VIEWER = GraphArg("viewer", str, "The viewer profile (default: the account's default viewer)")

GRAPH = DomainGraph(
    part="media",
    fields=(
        GraphField(
            "watchlist",
            f"{BASE}/watchlist",
            WatchlistItem,
            "The viewer's watchlist, newest first",
            arguments=(VIEWER,),
            page=True,
        ),
        GraphField(
            "continue_watching",
            f"{BASE}/continue-watching",
            ResumePoint,
            "Started, not finished: most recently watched first",
            arguments=(VIEWER,),
            page=True,
        ),
    ),
)
