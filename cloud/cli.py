"""The ``caredge`` command: one entry point for every process of the system."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud.settings import get_settings

if TYPE_CHECKING:
    from cloud.observability.settings import ObservabilitySettings

app = typer.Typer(
    help="caredge: remote monitoring and kiosk edge system for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Relational database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="API accounts (admin, nurse, kiosk, gateway).", no_args_is_help=True)
schema_app = typer.Typer(help="The wire contract's JSON Schema.", no_args_is_help=True)
gateway_app = typer.Typer(
    help="Home gateway: read BLE meters, publish readings (CAREDGE_GATEWAY_ID, CAREDGE_BLE …)."
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(schema_app, name="schema")
app.add_typer(gateway_app, name="gateway")
wayfinding_app = typer.Typer(
    help="Indoor wayfinding: simulate phone walks, evaluate positioning.", no_args_is_help=True
)
app.add_typer(wayfinding_app, name="wayfinding")

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "protocol" / "schema"


@app.callback()
def main(
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING … (default CAREDGE_LOG_LEVEL)")
    ] = None,
) -> None:
    """Configure logging once for whichever subcommand runs (CAREDGE_LOG_FORMAT: text, json)."""
    from cloud.observability.logs import configure_logging

    configure_logging(log_level or get_settings().log_level, _observability().log_format)


def _observability() -> ObservabilitySettings:
    """The observability settings, or a clear error naming the bad variable."""
    from pydantic import ValidationError

    from cloud.observability.settings import ObservabilitySettings

    try:
        return ObservabilitySettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"CAREDGE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"invalid configuration: {problems}", err=True)
        raise typer.Exit(code=2) from None


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
    """Consume readings from MQTT and store each exactly once (runs until Ctrl-C).

    Metrics and probes on CAREDGE_INGEST_METRICS_PORT (default 9101, 0: off).
    """
    from contextlib import ExitStack

    from cloud.db import make_engine, make_sessionmaker
    from cloud.ingest.gc_policy import tune_for_streaming
    from cloud.ingest.stats import IngestStats
    from cloud.ingest.worker import IngestWorker
    from cloud.observability import health
    from cloud.observability.ingest_metrics import IngestMetrics
    from cloud.observability.server import serve_in_background
    from cloud.tsdb.factory import make_store

    settings = get_settings()
    observability = _observability()
    engine = make_engine(settings.database_url)
    store = make_store(settings, engine)
    stats = IngestStats()
    metrics = IngestMetrics(stats, connected=lambda: worker.wait_connected(0))
    worker = IngestWorker(
        settings,
        session_factory=make_sessionmaker(engine),
        store=metrics.timed(store),
        stats=stats,
        metrics=metrics,
    )
    flag = _stop_flag()
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        stack.callback(store.close)
        checks = {
            "mqtt": health.flag_check(lambda: worker.wait_connected(0), "subscribed to MQTT"),
            "database": health.database_check(engine),
            "store": health.store_check(store),
        }
        serve_in_background(
            metrics.registry,
            checks,
            host=observability.metrics_host,
            port=observability.ingest_metrics_port,
            token=observability.metrics_token.get_secret_value(),
            stack=stack,
        )
        tune_for_streaming()
        worker.run_until(lambda: flag[0])


@app.command()
def scheduler() -> None:
    """Run alert timers (escalation, stale data) and MQTT/webhook paging (runs until Ctrl-C)."""
    from cloud.scheduler_process import run_scheduler

    flag = _stop_flag()
    run_scheduler(get_settings(), lambda: flag[0], observability=_observability())


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


@app.command()
def sim(
    scenario: Annotated[
        Path | None, typer.Option(help="YAML scenario file (default: the built-in demo home).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port of the first gateway's HCI controller.")
    ] = None,
) -> None:
    """Run the simulated home (BLE meters and beacons); prints READY <name> <CAREDGE_BLE value>."""
    from firmware_sim.cli import run_sim

    run_sim(scenario, port=port)


@app.command()
def kiosk(
    api_url: Annotated[
        str | None, typer.Option(help="Cloud API base URL (env CAREDGE_KIOSK_API_URL).")
    ] = None,
    kiosk_token: Annotated[
        str | None,
        typer.Option(
            envvar="CAREDGE_KIOSK_TOKEN",
            show_envvar=True,
            help="Kiosk device token from `caredge seed --demo` or POST /api/v1/kiosks.",
        ),
    ] = None,
    fullscreen: Annotated[
        bool | None,
        typer.Option("--fullscreen/--windowed", help="Fullscreen (default) or 1280x800."),
    ] = None,
    elder: Annotated[
        bool | None, typer.Option("--elder/--no-elder", help="Start in elder (large text) mode.")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Start language: zh or en.")] = None,
) -> None:
    """Run the self-service kiosk (Kivy) against the cloud API; needs a display."""
    import os

    from pydantic import ValidationError

    from kiosk.config import KioskConfig

    given = {"api_url": api_url, "fullscreen": fullscreen, "elder": elder, "language": lang}
    overrides: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if kiosk_token is not None:
        overrides["token"] = kiosk_token
    try:
        config = KioskConfig(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from None
    if not config.token.get_secret_value():
        raise typer.BadParameter(
            "no kiosk token: pass --kiosk-token or set CAREDGE_KIOSK_TOKEN "
            "(`caredge seed --demo` prints one)",
            param_hint="--kiosk-token",
        )
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        typer.echo("no display (DISPLAY is unset): run it on the kiosk screen or under xvfb-run")
        raise typer.Exit(code=2)
    from kiosk.ui.run import run

    run(config)


@gateway_app.callback(invoke_without_command=True)
def gateway(ctx: typer.Context) -> None:
    """Run the gateway daemon until Ctrl-C / SIGTERM (subcommand ``pair`` bonds a meter)."""
    if ctx.invoked_subcommand is not None:
        return
    from edge.gateway.daemon import main as run_gateway

    run_gateway()


@gateway_app.command("pair")
def gateway_pair(
    seconds: Annotated[float, typer.Option(help="How long to scan for meters.")] = 5.0,
    address: Annotated[
        str | None, typer.Option(help="Bond this meter without asking (BLE address).")
    ] = None,
    passkey: Annotated[
        int | None,
        typer.Option(help="The passkey the meter displays (default CAREDGE_BLE_PASSKEY)."),
    ] = None,
) -> None:
    """List meters in range, bond the chosen one with its passkey, print its device id."""
    import asyncio

    from edge.gateway.daemon import GatewayDaemonSettings
    from edge.gateway.pairing import pair_meter, scan_meters

    settings = GatewayDaemonSettings()  # type: ignore[call-arg]  # from CAREDGE_*

    async def body() -> None:
        typer.echo(f"scanning {seconds:g} s on {settings.ble} …")
        meters = await scan_meters(settings, seconds)
        if not meters:
            typer.echo("no meter advertises: wake it (take a measurement) and retry", err=True)
            raise typer.Exit(code=1)
        for index, meter in enumerate(meters, 1):
            typer.echo(
                f"{index:2}. {meter.address}  {meter.kind.value:14}  "
                f"{meter.name or '?':20}  RSSI {meter.rssi}"
            )
        if address is not None:
            chosen = [m for m in meters if m.address.upper() == address.upper()]
            if not chosen:
                typer.echo(f"{address} is not advertising", err=True)
                raise typer.Exit(code=1)
            meter = chosen[0]
        else:
            number = typer.prompt("bond which meter", type=int, default=1)
            meter = meters[max(1, min(number, len(meters))) - 1]
        key = passkey if passkey is not None else settings.ble_passkey
        if key is None:
            key = typer.prompt("passkey shown on the meter", type=int)
        paired = await pair_meter(settings, meter, key)
        typer.echo(
            f"bonded {paired.address}. Register it in the cloud as device id "
            f"{paired.device_id!r} (kind {paired.kind.value}, ble_address {paired.address}, "
            f"model {paired.model!r}, serial {paired.serial!r}) on gateway {settings.gateway_id}."
        )

    asyncio.run(body())


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


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Fill a realistic demo hospital.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write the kiosk token, patients and QR codes to this JSON file."),
    ] = None,
) -> None:
    """Migrate CAREDGE_DATABASE_URL and fill it with demo departments, patients, a kiosk …"""
    from cloud.db import make_engine, make_sessionmaker, transaction, utcnow
    from cloud.errors import ConflictError
    from cloud.hospital.demo_seed import seed_demo
    from cloud.migrate import upgrade

    if not demo:
        raise typer.BadParameter("only --demo seeding exists", param_hint="--demo")
    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            made = seed_demo(
                session,
                now=utcnow(),
                zone=settings.hospital_zone,
                secret=settings.secret_key.get_secret_value(),
            )
    except ConflictError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    typer.echo(f"kiosk {made.kiosk_name} device token (shown once): {made.kiosk_token}")
    typer.echo("patients (number, name, date of birth):")
    for number, name, birth in made.patients:
        typer.echo(f"  {number}  {name}  {birth.isoformat()}")
    typer.echo("appointments (id, patient number, local start, department, QR code text):")
    for appointment_id, number, starts, department, code in made.appointments:
        typer.echo(f"  {appointment_id:3}  {number}  {starts}  {department:5} {code}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "kiosk": {"name": made.kiosk_name, "device_token": made.kiosk_token},
            "patients": [
                {"patient_number": n, "name": name, "birth_date": b.isoformat()}
                for n, name, b in made.patients
            ],
            "appointments": [
                {"id": i, "patient_number": n, "starts": s, "department": d, "qr_code": c}
                for i, n, s, d, c in made.appointments
            ],
        }
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        out.chmod(0o600)  # holds the kiosk's device token
        typer.echo(f"wrote {out}")


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


# --- caredge mqtt: Mosquitto accounts and ACLs from the registry -------------------------

mqtt_app = typer.Typer(
    help="Mosquitto password file and ACL from the database (CAREDGE_MQTT_PASSWORD_FILE …).",
    no_args_is_help=True,
)
app.add_typer(mqtt_app, name="mqtt")


@mqtt_app.command("provision")
def mqtt_provision(
    reload_pid: Annotated[
        int | None, typer.Option(help="Send SIGHUP to this Mosquitto process afterwards.")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help="Default CAREDGE_MQTT_PASSWORD_FILE.")
    ] = None,
    acl_file: Annotated[Path | None, typer.Option(help="Default CAREDGE_MQTT_ACL_FILE.")] = None,
) -> None:
    """Write Mosquitto's password and ACL files for every gateway, nurse device and service."""
    from cloud.db import make_engine, make_sessionmaker
    from cloud.mqtt_admin.provision import ProvisionError, provision
    from cloud.mqtt_admin.settings import MqttAdminSettings

    overrides = {"password_file": password_file, "acl_file": acl_file}
    admin = MqttAdminSettings(**{k: v for k, v in overrides.items() if v is not None})
    engine = make_engine(get_settings().database_url)
    try:
        with make_sessionmaker(engine)() as session:
            made = provision(session, admin, reload_pid=reload_pid)
    except ProvisionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    typer.echo(
        f"wrote {admin.password_file} and {admin.acl_file}: {made.count('gateway')} gateways, "
        f"{made.count('nurse')} nurse devices, {made.count('service')} services"
        + (f"; Mosquitto {reload_pid} reloading" if reload_pid is not None else "")
    )
    for reason in made.skipped:
        typer.echo(f"left out: {reason}", err=True)


@mqtt_app.command("rotate")
def mqtt_rotate(
    gateway_id: Annotated[str, typer.Argument(help="The gateway whose password changes.")],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the new password from stdin instead of generating one.")
    ] = False,
) -> None:
    """Give a gateway a new MQTT password (printed once); then run `caredge mqtt provision`."""
    import sys

    from cloud.db import make_engine, make_sessionmaker, transaction
    from cloud.errors import NotFoundError
    from cloud.mqtt_admin.rotation import rotate_gateway_password

    given = sys.stdin.readline().strip() if password_stdin else None
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            password = rotate_gateway_password(
                session, gateway_id=gateway_id, actor="cli", password=given
            )
    except (NotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    typer.echo(password if not password_stdin else f"gateway {gateway_id}: password set")


@mqtt_app.command("nurse-password")
def mqtt_nurse_password(
    nurse_id: Annotated[int, typer.Argument(help="The nurse whose device is being set up.")],
) -> None:
    """Print the MQTT username and password of a nurse's device (from CAREDGE_MQTT_NURSE_KEY)."""
    from cloud.mqtt_admin.accounts import nurse_username
    from cloud.mqtt_admin.nurse_credentials import nurse_password
    from cloud.mqtt_admin.settings import MqttAdminSettings

    key = MqttAdminSettings().nurse_key.get_secret_value()
    try:
        password = nurse_password(key, nurse_id)
    except ValueError as exc:
        typer.echo(f"error: CAREDGE_MQTT_NURSE_KEY: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"username {nurse_username(nurse_id)}\npassword {password}")


@wayfinding_app.command("simulate-walk")
def wayfinding_simulate_walk(
    origin: Annotated[str, typer.Option("--from", help="Kiosk or place id to start at")],
    destination: Annotated[str, typer.Option("--to", help="Place id to walk to")],
    out: Annotated[Path, typer.Option(help="Walk file to write (JSON lines)")],
    map_path: Annotated[
        Path | None, typer.Option("--map", help="Map file (default: the sample hospital)")
    ] = None,
    accessible: Annotated[bool, typer.Option(help="Take the lift, never the stairs")] = False,
    sigma: Annotated[float, typer.Option(help="RSSI noise σ in dB")] = 4.0,
    dropout: Annotated[float, typer.Option(help="Share of adverts lost")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
) -> None:
    """Walk a simulated phone along a route; write what it hears and where it truly is."""
    from firmware_sim.walks import WalkParams, simulate_walk, write_walk
    from wayfinding.errors import WayfindingError
    from wayfinding.mapfile import SAMPLE_MAP, load_map

    try:
        hospital = load_map(map_path or SAMPLE_MAP)
        header, samples = simulate_walk(
            hospital,
            origin,
            destination,
            accessible=accessible,
            params=WalkParams(sigma_db=sigma, dropout=dropout),
            seed=seed,
        )
    except WayfindingError as exc:
        raise typer.BadParameter(str(exc)) from exc
    write_walk(out, header, samples)
    typer.echo(json.dumps({"walk": str(out), "samples": len(samples)}))


@wayfinding_app.command("eval")
def wayfinding_eval(
    map_path: Annotated[Path, typer.Option("--map", help="Map file (YAML or JSON)")],
    walk: Annotated[Path, typer.Option(help="Walk file (JSON lines, docs/wayfinding.md)")],
    solver: Annotated[
        str, typer.Option(help="caredge (particle filter), nearest or trilateration")
    ] = "caredge",
    seed: Annotated[int, typer.Option(help="Seed of the particle filter")] = 0,
) -> None:
    """Print JSON: median and p90 position error (m), floor and room accuracy of a walk."""
    from edge.beacons import SOLVERS, make_solver, replay, score
    from wayfinding.errors import WayfindingError
    from wayfinding.mapfile import load_map
    from wayfinding.walklog import read_walk

    if solver not in SOLVERS:
        raise typer.BadParameter(f"one of {', '.join(SOLVERS)}", param_hint="--solver")
    try:
        hospital = load_map(map_path)
        with walk.open(encoding="utf-8") as lines:
            _header, samples = read_walk(lines)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {walk}: {exc.strerror}", param_hint="--walk"
        ) from exc
    except WayfindingError as exc:
        raise typer.BadParameter(str(exc)) from exc
    figures = score(hospital, replay(samples, make_solver(solver, hospital, seed=seed)))
    typer.echo(json.dumps({"map": hospital.id, "solver": solver, **figures.as_dict()}))


if __name__ == "__main__":
    app()
