"""Run the simulated home: meters and beacons on a virtual radio, gateways attached over TCP.

``run_sim`` is the entry point behind ``caredge sim`` (and ``python -m firmware_sim.cli``): it
builds a ``VirtualRadio`` from a scenario (a dict or a YAML file), serves one HCI controller per
gateway on ``tcp-server:_:PORT`` and runs until interrupted. A gateway process then uses the BLE
backend setting ``bumble:tcp-client:127.0.0.1:PORT``.

Scenario format (every key optional)::

    gateways: [{name: gw-1, port: 7001}]
    blood_pressure:
      - {name: CE-BP-1, address: "C0:CA:ED:00:01:01", passkey: 123456,
         readings: [{systolic: 120, diastolic: 80, mean_arterial: 93, pulse: 70}]}
    glucose:
      - {name: CE-GLU-1, passkey: 123456, records: [{mg_dl: 95}, {mmol_l: 5.4}],
         record_interval_s: 0.0}   # pause between streamed records (slow meters)
    ibeacons:
      - {uuid: "e2c56db5-dffb-48d2-b060-d0f5a71096e0", major: 1, minor: 7, measured_power: -59}
    new_reading_every_s: 30   # a fresh BP reading and glucose record on that period
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from firmware_sim.beacons import IBeacon
from firmware_sim.meters import encoding
from firmware_sim.meters.blood_pressure import BloodPressureMeter
from firmware_sim.meters.glucose import GlucoseMeter
from firmware_sim.radio import GatewayEndpoint, VirtualRadio

logger = logging.getLogger(__name__)

DEFAULT_PORT = 7001
DEFAULT_SCENARIO: dict[str, Any] = {
    "blood_pressure": [
        {
            "name": "CE-BP-1",
            "address": "C0:CA:ED:00:01:01",
            "passkey": 123456,
            "readings": [{"systolic": 128, "diastolic": 82, "mean_arterial": 97, "pulse": 72}],
        }
    ],
    "glucose": [
        {
            "name": "CE-GLU-1",
            "address": "C0:CA:ED:00:02:01",
            "passkey": 123456,
            "records": [{"mg_dl": 104}, {"mg_dl": 96}],
        }
    ],
    "ibeacons": [
        {
            "uuid": "e2c56db5-dffb-48d2-b060-d0f5a71096e0",
            "major": 1,
            "minor": minor,
            "measured_power": -59,
            "address": f"C0:CA:ED:00:03:{minor:02X}",
        }
        for minor in (1, 2, 3)
    ],
}

MG_DL_PER_KG_L = 100_000  # 1 kg/L = 10^5 mg/dL (GLS concentration unit)
MOL_L_PER_MMOL_L = 0.001


def load_scenario(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    """A scenario dict from a YAML file path, a dict, or the built-in default."""
    if source is None:
        return DEFAULT_SCENARIO
    if isinstance(source, dict):
        return source
    loaded = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"scenario {source} is not a mapping")
    return loaded


def bp_reading(spec: dict[str, Any], now: datetime) -> encoding.BPReading:
    """A BPReading from a scenario entry (timestamp ISO text, default: the meter's now)."""
    timestamp = spec.get("timestamp")
    return encoding.BPReading(
        systolic=spec["systolic"],
        diastolic=spec["diastolic"],
        mean_arterial=spec.get(
            "mean_arterial", round((spec["systolic"] + 2 * spec["diastolic"]) / 3)
        ),
        unit_kpa=bool(spec.get("unit_kpa", False)),
        timestamp=datetime.fromisoformat(timestamp) if timestamp else now.replace(microsecond=0),
        pulse=spec.get("pulse"),
        user_id=spec.get("user_id"),
        status=spec.get("status"),
    )


def add_glucose_record(meter: GlucoseMeter, spec: dict[str, Any]) -> encoding.GlucoseRecord:
    """Store a scenario glucose record (``mg_dl`` → kg/L, ``mmol_l`` → mol/L)."""
    base_time = spec.get("base_time")
    context = spec.get("context")
    if "mmol_l" in spec:
        concentration, mol = round(spec["mmol_l"] * MOL_L_PER_MMOL_L, 7), True
    else:
        concentration, mol = round(spec.get("mg_dl", 100) / MG_DL_PER_KG_L, 8), False
    return meter.add_record(
        concentration,
        unit_mol_per_l=mol,
        base_time=datetime.fromisoformat(base_time) if base_time else None,
        sample_type=spec.get("sample_type", encoding.SampleType.CAPILLARY_PLASMA),
        sample_location=spec.get("sample_location", encoding.SampleLocation.FINGER),
        time_offset_min=spec.get("time_offset_min"),
        sensor_status=spec.get("sensor_status"),
        context=encoding.GlucoseContext(**context) if context else None,
    )


def _meter_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "address", "passkey", "manufacturer", "model", "serial", "firmware")
    kwargs = {key: spec[key] for key in keys if key in spec}
    if "battery" in spec:
        kwargs["battery_level"] = spec["battery"]
    if spec.get("advertise_always"):
        kwargs["advertise_always"] = True
    return kwargs


async def build_radio(
    scenario: dict[str, Any], radio: VirtualRadio | None = None
) -> tuple[VirtualRadio, list[BloodPressureMeter], list[GlucoseMeter], list[IBeacon]]:
    """Create (or fill) a radio with the scenario's meters and beacons, readings stored."""
    radio = radio or VirtualRadio()
    bp_meters: list[BloodPressureMeter] = []
    for spec in scenario.get("blood_pressure", []):
        bp = BloodPressureMeter(
            disconnect_after_transfer_s=spec.get("disconnect_after_transfer_s"),
            **_meter_kwargs(spec),
        )
        await radio.add(bp)
        for reading in spec.get("readings", []):
            bp.add_reading(bp_reading(reading, bp.now()))
        bp_meters.append(bp)
    glucose_meters: list[GlucoseMeter] = []
    for spec in scenario.get("glucose", []):
        meter = GlucoseMeter(
            record_interval_s=float(spec.get("record_interval_s", 0.0)), **_meter_kwargs(spec)
        )
        await radio.add(meter)
        for record in spec.get("records", []):
            add_glucose_record(meter, record)
        glucose_meters.append(meter)
    beacons: list[IBeacon] = []
    for spec in scenario.get("ibeacons", []):
        beacon = IBeacon(
            proximity_uuid=uuid.UUID(str(spec["uuid"])),
            major=int(spec["major"]),
            minor=int(spec["minor"]),
            measured_power=int(spec.get("measured_power", -59)),
            name=spec.get("name", "CE-BEACON"),
            address=spec.get("address"),
        )
        await radio.add(beacon)
        beacons.append(beacon)
    return radio, bp_meters, glucose_meters, beacons


async def _new_readings(
    period_s: float, bp_meters: list[BloodPressureMeter], glucose_meters: list[GlucoseMeter]
) -> None:
    generator = random.Random(0)
    while True:
        await asyncio.sleep(period_s)
        for bp in bp_meters:
            systolic = generator.randint(105, 175)
            diastolic = generator.randint(65, min(110, systolic - 25))
            bp.add_reading(
                bp_reading(
                    {
                        "systolic": systolic,
                        "diastolic": diastolic,
                        "pulse": generator.randint(55, 100),
                    },
                    bp.now(),
                )
            )
        for meter in glucose_meters:
            add_glucose_record(meter, {"mg_dl": generator.randint(60, 260)})


async def serve(
    scenario: dict[str, Any] | str | Path | None = None,
    *,
    port: int | None = None,
    ready: Callable[[list[GatewayEndpoint]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Build the radio, serve the gateway controllers, call ``ready``, run until ``stop`` is set."""
    loaded = load_scenario(scenario)
    radio, bp_meters, glucose_meters, _beacons = await build_radio(loaded)
    gateways = loaded.get("gateways") or [{"name": "gateway", "port": DEFAULT_PORT}]
    if port is not None:
        gateways = [{**gateways[0], "port": port}, *gateways[1:]]
    ticker: asyncio.Task[None] | None = None
    try:
        endpoints = [
            await radio.serve_gateway(int(gateway["port"]), name=gateway.get("name", "gateway"))
            for gateway in gateways
        ]
        period = loaded.get("new_reading_every_s")
        if period:
            ticker = asyncio.create_task(_new_readings(float(period), bp_meters, glucose_meters))
        if ready is not None:
            ready(endpoints)
        await (stop or asyncio.Event()).wait()
    finally:
        if ticker is not None:
            ticker.cancel()
        await radio.close()


def _print_ready(endpoints: list[GatewayEndpoint]) -> None:
    for endpoint in endpoints:
        print(f"READY {endpoint.name} bumble:{endpoint.spec}", flush=True)


def run_sim(
    scenario: str | Path | dict[str, Any] | None = None,
    *,
    port: int | None = None,
) -> None:
    """Run the simulated home until interrupted (blocking); prints one READY line per gateway."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(scenario, port=port, ready=_print_ready))


def main(argv: list[str] | None = None) -> None:
    """``python -m firmware_sim.cli [--scenario FILE] [--port N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", help="YAML scenario file (default: built-in demo home)")
    parser.add_argument("--port", type=int, help="TCP port of the first gateway controller")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    run_sim(args.scenario, port=args.port)


if __name__ == "__main__":
    main()
