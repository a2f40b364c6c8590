"""The ``caredge`` command: one entry point for every process of the system."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from cloud.settings import get_settings

app = typer.Typer(
    help="caredge: remote monitoring and kiosk edge system for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Relational database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="API accounts (admin, nurse, kiosk, gateway).", no_args_is_help=True)
schema_app = typer.Typer(help="The wire contract's JSON Schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(schema_app, name="schema")

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "protocol" / "schema"


@app.callback()
def main(
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING … (default CAREDGE_LOG_LEVEL)")
    ] = None,
) -> None:
    """Configure logging once for whichever subcommand runs."""
    logging.basicConfig(
        level=(log_level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _stop_flag() -> list[bool]:
    """A flag set by SIGINT/SIGTERM, for loops that end cleanly."""
    flag = [False]

    def _handler(signum: int, _frame: object) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        flag[0] = True

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return flag


@app.command()
def api() -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from cloud.api.app import serve

    serve(get_settings())


@app.command()
def ingest() -> None:
    """Consume readings from MQTT and store each exactly once (runs until Ctrl-C)."""
    from cloud.db import make_engine, make_sessionmaker
    from cloud.ingest.worker import IngestWorker
    from cloud.tsdb.factory import make_store

    settings = get_settings()
    engine = make_engine(settings.database_url)
    store = make_store(settings, engine)
    worker = IngestWorker(settings, session_factory=make_sessionmaker(engine), store=store)
    flag = _stop_flag()
    try:
        worker.run_until(lambda: flag[0])
    finally:
        store.close()
        engine.dispose()


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    backfill_days: Annotated[int, typer.Option(help="Days of history to play first.")] = 14,
) -> None:
    """Run the whole system on embedded defaults: SQLite, embedded broker, API, ingest, patients."""
    from cloud.demo.run import run_demo

    run_demo(get_settings(), duration=duration, backfill_days=backfill_days)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema of CAREDGE_DATABASE_URL up to a revision."""
    from cloud.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision.")]) -> None:
    """Migrate the schema of CAREDGE_DATABASE_URL down to a revision ('base' drops all)."""
    from cloud.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at revision {revision}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, nurse, kiosk or gateway.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "",
) -> None:
    """Create an API account (the first admin is made this way)."""
    from cloud.auth.models import Role
    from cloud.auth.service import create_user
    from cloud.db import make_engine, make_sessionmaker, transaction

    try:
        checked_role = Role(role)
    except ValueError:
        raise typer.BadParameter(f"role must be one of {[r.value for r in Role]}") from None
    engine = make_engine(get_settings().database_url)
    with transaction(make_sessionmaker(engine)) as session:
        create_user(
            session,
            username=username,
            password=password,
            role=checked_role,
            display_name=display_name,
        )
    typer.echo(f"created {checked_role.value} {username}")


@schema_app.command("export")
def schema_export(
    out: Annotated[Path, typer.Option(help="Folder for reading-v1.schema.json.")] = SCHEMA_DIR,
) -> None:
    """Write the reading payload's JSON Schema for gateways not written in Python."""
    from protocol.envelope import reading_json_schema

    out.mkdir(parents=True, exist_ok=True)
    target = out / "reading-v1.schema.json"
    target.write_text(json.dumps(reading_json_schema(), indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {target}")


if __name__ == "__main__":
    app()
