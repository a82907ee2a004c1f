"""The ``profilestore`` command."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from profilestore.migrations import runner
from profilestore.settings import Settings

app = typer.Typer(
    help="profilestore: user profile service.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
nutrition_app = typer.Typer(help="The nutrition domain's maintenance.", no_args_is_help=True)
app.add_typer(nutrition_app, name="nutrition")
movement_app = typer.Typer(help="The movement domain's catalogue.", no_args_is_help=True)
app.add_typer(movement_app, name="movement")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve the API (on the embedded SQLite default unless PROFILESTORE_DATABASE_URL is set)."""
    import uvicorn

    settings = Settings()
    if workers > 1 and not settings.redis_url:
        typer.echo(
            f"--workers {workers} needs PROFILESTORE_REDIS_URL: worker processes share presence "
            "and cache invalidations through Redis (without it, one worker would not see "
            "another's heartbeats, and a block could be served stale). Set it, or serve with "
            "--workers 1.",
            err=True,
        )
        raise typer.Exit(2)
    if migrate:
        runner.upgrade(settings.effective_database_url)
    os.environ["PROFILESTORE_SERVE_WORKERS"] = str(workers)  # read by every worker's app
    uvicorn.run(
        "profilestore.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="profilestore.platform.server:CoalescingHttpToolsProtocol",
        access_log=False,
        proxy_headers=False,
        log_level=settings.log_level.lower(),
    )


@app.command()
def relay(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
) -> None:
    """Run the outbox relay: publish to PROFILESTORE_EVENTS_URL (or the feed) until SIGTERM."""
    import asyncio

    from profilestore.platform.events.relay import run_relay_process
    from profilestore.platform.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(run_relay_process(settings, metrics_port))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    runner.upgrade(Settings().effective_database_url, revision)
    typer.echo(f"database at {runner.current(Settings().effective_database_url) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Revert migrations down to REVISION (default: one step)."""
    runner.downgrade(Settings().effective_database_url, revision)
    typer.echo(f"database at {runner.current(Settings().effective_database_url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    typer.echo(runner.current(Settings().effective_database_url) or "base (no migrations applied)")


@nutrition_app.command("rebuild-rollups")
def nutrition_rebuild_rollups(
    user: Annotated[
        uuid.UUID | None, typer.Option(help="Only this user (default: every user with a ledger).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Report differences without changing anything.")
    ] = False,
) -> None:
    """Recount the hourly and daily calorie rollups from the events, in each user's timezone,
    and report every user whose rollups differed. With --check, exit 1 if any did."""
    import asyncio

    from profilestore.maintenance import rebuild_rollups

    report = asyncio.run(rebuild_rollups(Settings(), user, check=check, echo=typer.echo))
    if check and report.users_differing:
        raise typer.Exit(1)


@movement_app.command("load-programs")
def movement_load_programs(
    path: Annotated[
        Path | None,
        typer.Argument(help="A catalogue JSON file (default: the sample catalogue shipped)."),
    ] = None,
) -> None:
    """Create or replace the programmes of a catalogue file, all or none."""
    import asyncio

    from profilestore.domains.movement.public import SAMPLE_CATALOGUE
    from profilestore.maintenance import load_programs
    from profilestore.platform.errors import ProblemError

    try:
        asyncio.run(load_programs(Settings(), path or SAMPLE_CATALOGUE, echo=typer.echo))
    except ProblemError as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        for error in exc.errors or ():
            typer.echo(f"  {error.field}: {error.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="Subject: the user id (a UUID), or a service name.")],
    role: Annotated[
        list[str] | None, typer.Option(help="Role to grant (admin, service); repeatable.")
    ] = None,
    ttl: Annotated[int, typer.Option(min=60, max=30 * 86400, help="Lifetime in seconds.")] = 3600,
) -> None:
    """Mint a development JWT signed with the configured or development secret."""
    from profilestore.platform.auth import mint_token

    roles = role or []
    if not roles:
        try:
            uuid.UUID(sub)
        except ValueError:
            raise typer.BadParameter(
                "sub must be a UUID unless a role is given", param_hint="--sub"
            ) from None
    typer.echo(mint_token(Settings(), sub, roles, ttl))


if __name__ == "__main__":
    app()
