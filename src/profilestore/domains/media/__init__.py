"""The media domain: viewer profiles, watchlist, viewing history with resume points and
continue watching, ratings and reviews with per-video aggregates."""

from __future__ import annotations

from profilestore.platform.registry import Domain


def descriptor() -> Domain:
    from profilestore.domains.media import api, fast, graph, history_api, hub, ratings_api, viewers

    return Domain(
        hub_part=hub.PART,
        graphql=graph.GRAPH,
        export_tables=(
            "media_viewers",
            "media_watchlist",
            "media_history",
            "media_resume_points",
            "media_ratings",
        ),
        name="media",
        routers=(api.router, history_api.router, ratings_api.router),
        models=("profilestore.domains.media.models",),
        user_deleted=viewers.user_deleted,
        fast_reads=fast.FAST_READS,
        example_bodies={
            "ViewerWrite": {"name": "pwned"},
            "WatchlistAdd": {"video_id": "pwned-video"},
            "Beat": {"video_id": "pwned-video", "position_seconds": 10, "duration_seconds": 100},
            "RatingWrite": {"stars": 1, "review": "pwned"},
            "RatingPost": {"video_id": "pwned-video", "stars": 1},
        },
    )
