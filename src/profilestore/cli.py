"""The ``profilestore`` command."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
graphql_app = typer.Typer(help="The GraphQL schema.", no_args_is_help=True)
app.add_typer(graphql_app, name="graphql")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
    domains: Annotated[
        str | None,
        typer.Option(
            help="Serve (and migrate) only these domains, comma separated: profiles (or "
            "identity), social, media, nutrition, movement. Default: PROFILESTORE_DOMAINS, "
            "else all."
        ),
    ] = None,
) -> None:
    """Serve the API (on the embedded SQLite default unless PROFILESTORE_DATABASE_URL is set)."""
    import uvicorn

    if domains is not None:
        os.environ["PROFILESTORE_DOMAINS"] = domains  # read by every worker's app
    settings = _settings()
    _check_domains(settings)
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
        runner.upgrade(settings.effective_database_url, domains=settings.domains)
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


def _settings() -> Settings:
    """The settings, or a clear message and exit 2 when the environment names bad values."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            typer.echo(f"PROFILESTORE_{field.upper()}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def _check_domains(settings: Settings) -> None:
    from profilestore.domains.registry import selected

    try:
        selected(settings.domains)
    except ValueError as exc:
        typer.echo(f"PROFILESTORE_DOMAINS: {exc}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _alembic_errors() -> Iterator[None]:
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        typer.echo(f"refused: {exc}", err=True)
        typer.echo(
            "the migrations are one branch per domain (platform, profiles, social, media, "
            "nutrition, movement, and link_<domain> for the keys to profiles): name a "
            "revision, a branch head (nutrition@head), a step on a branch (nutrition@-1), "
            "heads or base",
            err=True,
        )
        raise typer.Exit(1) from None


def _echo_revisions(url: str) -> None:
    at = runner.current(url)
    typer.echo("database at: " + (at.replace("\n", ", ") if at else "base"))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str | None,
        typer.Argument(
            help="A revision, branch head (nutrition@head) or heads; default: what the "
            "served domains need (PROFILESTORE_DOMAINS, --domains)."
        ),
    ] = None,
    domains: Annotated[
        str | None,
        typer.Option(help="Migrate for these domains (comma separated) instead."),
    ] = None,
) -> None:
    """Apply migrations: by default those of the domains this deployment serves (all)."""
    if domains is not None:
        os.environ["PROFILESTORE_DOMAINS"] = domains
    settings = _settings()
    url = settings.effective_database_url
    with _alembic_errors():
        runner.upgrade(url, None if revision == "head" else revision, domains=settings.domains)
    _echo_revisions(url)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="base, a revision, or a step on one branch (nutrition@-1).")
    ] = "-1",
) -> None:
    """Revert migrations down to REVISION (a bare -1 works only on a one-branch database)."""
    url = _settings().effective_database_url
    with _alembic_errors():
        runner.downgrade(url, revision)
    _echo_revisions(url)


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    typer.echo(runner.current(_settings().effective_database_url) or "base (no migrations applied)")


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


@graphql_app.command("sdl")
def graphql_sdl(
    domain: Annotated[
        str | None,
        typer.Option(help="A domain's Apollo Federation v2 subgraph (default: the hub's schema)."),
    ] = None,
) -> None:
    """Print a GraphQL schema in SDL: the hub's, or one domain's federation subgraph."""
    from profilestore.domains.registry import DOMAINS
    from profilestore.hub.graphql.federation import subgraph_sdl
    from profilestore.hub.graphql.router import schema_for

    if domain is None:
        typer.echo(schema_for(DOMAINS, 10, 5000, introspection=True).as_str())
        return
    names = {d.name: d for d in DOMAINS}
    names["identity"] = names["profiles"]
    if domain not in names or names[domain].graphql is None:
        known = ", ".join(d.name for d in DOMAINS if d.graphql is not None)
        raise typer.BadParameter(f"unknown domain; one of {known}", param_hint="--domain")
    typer.echo(subgraph_sdl(names[domain]))


if __name__ == "__main__":
    app()
