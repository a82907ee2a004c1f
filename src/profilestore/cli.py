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
import_app = typer.Typer(help="Import data from files and other systems.", no_args_is_help=True)
app.add_typer(import_app, name="import")
export_app = typer.Typer(help="Export data for operators.", no_args_is_help=True)
app.add_typer(export_app, name="export")
schema_app = typer.Typer(
    help="The profile schema: the app's custom profile fields.", no_args_is_help=True
)
app.add_typer(schema_app, name="schema")


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
    _check_profile_schema(settings)
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


def _check_profile_schema(settings: Settings) -> None:
    """Refuse to serve with a profile schema file that cannot be used (exit 2, the message
    naming the file, the field and the problem) before any worker starts."""
    from profilestore.domains.profiles.custom_fields import SchemaError, load

    if settings.profile_schema is None:
        return
    try:
        load(settings.profile_schema)
    except SchemaError as exc:
        typer.echo(f"PROFILESTORE_PROFILE_SCHEMA: {exc}", err=True)
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


CopySource = Annotated[
    str, typer.Option("--from", help="Source URL, e.g. sqlite+aiosqlite:///var/profilestore.db.")
]
CopyTarget = Annotated[
    str, typer.Option("--to", help="Target URL, e.g. postgresql+asyncpg://user@host/db.")
]
CopyBatchSize = Annotated[int, typer.Option(min=1, max=100_000, help="Rows per batch.")]


@contextmanager
def _copy_errors(hint: str) -> Iterator[None]:
    """A refusal exits 2 (no row was written); a database error exits 1 with ``hint``."""
    import asyncpg
    from sqlalchemy.exc import SQLAlchemyError

    from profilestore.datacopy import CopyRefused

    try:
        yield
    except CopyRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        typer.echo(f"stopped: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
        typer.echo(hint, err=True)
        raise typer.Exit(1) from None


def _echo_verification(lines: Iterator[str], equal: bool) -> None:
    for line in lines:
        typer.echo(line)
    if not equal:
        raise typer.Exit(1)


@db_app.command("copy")
def db_copy(
    source: CopySource,
    target: CopyTarget,
    batch_size: CopyBatchSize = 1000,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Go on with an interrupted copy (the target must be its prefix)."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Copy every table of one database into another (migrated to the source's schema first),
    in batches, then verify row counts and checksums; exit 1 on any difference."""
    from profilestore import datacopy

    with (
        _copy_errors("the rows copied so far stay: run the same command with --resume"),
        datacopy.console_progress(quiet) as progress,
    ):
        checks = datacopy.copy_database(
            source, target, batch_size=batch_size, resume=resume, progress=progress
        )
    _echo_verification(datacopy.report_lines(checks), datacopy.all_equal(checks))


@db_app.command("verify")
def db_verify(source: CopySource, target: CopyTarget, batch_size: CopyBatchSize = 1000) -> None:
    """Compare every table of the source with the target's: row counts and an order-independent
    checksum of the content; exit 1 on any difference."""
    from profilestore import datacopy

    with _copy_errors("the verification could not finish"):
        checks = datacopy.verify_database(source, target, batch_size=batch_size)
    _echo_verification(datacopy.report_lines(checks), datacopy.all_equal(checks))


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


@export_app.command("profiles")
def export_profiles(
    out: Annotated[str, typer.Option(help="File to write, or - for standard output.")] = "-",
    updated_since: Annotated[
        str | None,
        typer.Option(help="Only profiles updated at or after this RFC 3339 time (with offset)."),
    ] = None,
) -> None:
    """Write every profile, with its addresses, as JSON Lines in (updated_at, user_id) order;
    the count goes to standard error."""
    import asyncio

    from profilestore import profiles_jsonl

    try:
        since = profiles_jsonl.parse_since(updated_since) if updated_since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--updated-since") from None
    settings = _settings()
    with profiles_jsonl.output(out) as stream:
        count = asyncio.run(profiles_jsonl.export_profiles(settings, stream, since))
    typer.echo(f"exported {count} profiles", err=True)


@import_app.command("profiles")
def import_profiles(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines from export profiles.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every line; write nothing.")
    ] = False,
) -> None:
    """Create or update profiles (and their addresses) from JSON Lines, as the API would:
    every refused line is reported with its number; exit 1 if any was."""
    import asyncio

    from profilestore import profiles_jsonl

    settings = _settings()
    with path.open("rb") as stream:
        report = asyncio.run(
            profiles_jsonl.import_profiles(
                settings, stream, dry_run=dry_run, echo=lambda line: typer.echo(line, err=True)
            )
        )
    if report.refused:
        raise typer.Exit(1)


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


@import_app.command("calorie-balance")
def import_calorie_balance(
    source: Annotated[
        str, typer.Option("--from", help="The legacy database: postgresql://user@host/name.")
    ],
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The IANA zone the legacy timestamps are wall-clock times of (and each new "
            "profile's timezone). Default: UTC, profiles without a timezone."
        ),
    ] = None,
    allow_skips: Annotated[
        bool,
        typer.Option("--allow-skips", help="Exit 0 although rows or values were not imported."),
    ] = False,
) -> None:
    """Import a calorie-balance service database into PROFILESTORE_DATABASE_URL (migrated),
    then verify events and kcal per user. Exit 1: the verification found a difference; 2:
    refused before writing; 3: rows or values were skipped (listed) without --allow-skips."""
    from profilestore.importers.calorie_balance import ImportRefused
    from profilestore.importers.calorie_balance import import_calorie_balance as run

    settings = _settings()
    try:
        report = run(settings, source, timezone=timezone, echo=typer.echo)
    except ImportRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in report.lines(allow_skips=allow_skips):
        typer.echo(line)
    raise typer.Exit(report.exit_code(allow_skips=allow_skips))


@schema_app.command("check")
def schema_check(
    path: Annotated[
        Path | None,
        typer.Argument(help="The schema file (default: PROFILESTORE_PROFILE_SCHEMA)."),
    ] = None,
) -> None:
    """Check the stored custom field values against the profile schema: values under names it
    no longer declares, values that fail their field's rule, profiles missing a required
    field. Exit 0 when clean, 1 when something was reported, 2 on a bad schema file."""
    from profilestore.domains.profiles import schema_cli

    raise typer.Exit(schema_cli.run(_settings(), path, echo=typer.echo))


if __name__ == "__main__":
    app()
