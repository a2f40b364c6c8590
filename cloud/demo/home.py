"""The demo's simulated homes: firmware-sim meters on bumble, read by the real edge gateway.

One home per demo patient, each its own air (a ``VirtualRadio``, so a gateway sees only the
meters of its own home): the patient's BP and glucose meters, and a gateway made of the
production parts, ``GatewayDaemon`` (bleak with the bumble backend, coordinator, bonding,
RACP), the durable ``Outbox`` and the MQTT ``Uplink``. Everything runs on one asyncio loop in
a background thread; ``take()`` is the only way in from other threads: the meter stores the
reading as it would after a measurement, advertises, and the gateway collects it.

The demo is the one place where cloud, edge and firmware-sim meet: it plays all three.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cloud.demo.scenario import AnyReading, DemoPatient
from cloud.errors import CloudError
from edge.ble.backend import BleBackend
from edge.ble.bumble_backend import BleakClientBumble, BleakScannerBumble, close_hosts
from edge.gateway.daemon import GatewayDaemon, GatewayDaemonSettings
from edge.outbox import Outbox
from edge.uplink import Uplink, UplinkStats
from firmware_sim.meters import MeterPeripheral, encoding
from firmware_sim.meters.blood_pressure import BloodPressureMeter
from firmware_sim.meters.glucose import GlucoseMeter
from firmware_sim.radio import VirtualRadio
from protocol.envelope import BloodPressureReading, GlucoseReading

log = logging.getLogger(__name__)

#: The passkey every demo meter "displays"; the gateways are configured with it.
DEMO_PASSKEY = 246810
#: A meter's next session may start this soon after the previous one (production: 10 s).
SESSION_INTERVAL_S = 1.0
#: A BP session ends this long after the last indication (production: 2 s).
BP_IDLE_S = 0.5
_START_TIMEOUT_S = 15.0
_MMOL_PER_MOL = 1000


class HomeError(CloudError):
    """The simulated homes could not start or take a reading."""


def meter_clock(at: datetime) -> datetime:
    """A reading's time as a meter shows it: naive wall-clock time of this machine's zone.

    The gateway reads meter times in its own zone (``meter_timezone`` unset), and the
    simulated meters' clocks follow this machine's clock, so there is no skew to correct.
    """
    if at.tzinfo is None:
        raise ValueError("reading times must be timezone-aware")
    return at.astimezone().replace(tzinfo=None, microsecond=0)


def bp_measurement(reading: BloodPressureReading) -> encoding.BPReading:
    """What a BP meter stores for a demo reading (status bits included)."""
    status = encoding.BPStatus(0)
    if reading.status.cuff_too_loose:
        status |= encoding.BPStatus.CUFF_TOO_LOOSE
    if reading.status.body_movement:
        status |= encoding.BPStatus.BODY_MOVEMENT
    if reading.status.irregular_pulse:
        status |= encoding.BPStatus.IRREGULAR_PULSE
    return encoding.BPReading(
        systolic=reading.systolic_mmhg,
        diastolic=reading.diastolic_mmhg,
        mean_arterial=reading.map_mmhg
        if reading.map_mmhg is not None
        else encoding.SFloatSpecial.NAN,
        timestamp=meter_clock(reading.measured_at),
        pulse=reading.pulse_bpm,
        status=int(status),
    )


def store_reading(meter: MeterPeripheral, reading: AnyReading) -> None:
    """Let meter take reading: a BP meter queues it, a glucose meter adds a record."""
    if isinstance(reading, BloodPressureReading) and isinstance(meter, BloodPressureMeter):
        meter.add_reading(bp_measurement(reading))
    elif isinstance(reading, GlucoseReading) and isinstance(meter, GlucoseMeter):
        meal = reading.context.meal if reading.context is not None else None
        meter.add_record(
            round(reading.glucose_mmol_l / _MMOL_PER_MOL, 7),  # the meter reports mol/L
            unit_mol_per_l=True,
            base_time=meter_clock(reading.measured_at),
            context=(
                encoding.GlucoseContext(meal=int(encoding.Meal[meal.name]))
                if meal is not None
                else None
            ),
        )
    else:
        raise HomeError(f"{type(meter).__name__} cannot take a {reading.kind} reading")


def gateway_settings(
    patient: DemoPatient,
    *,
    mqtt_url: str,
    mqtt_protocol: Literal["5", "3.1.1"],
    var_dir: Path,
) -> GatewayDaemonSettings:
    """The gateway of patient's home; every field given, so no CAREDGE_* variable leaks in."""
    return GatewayDaemonSettings(
        gateway_id=patient.gateway_id,
        mqtt_url=mqtt_url,
        mqtt_protocol=mqtt_protocol,
        mqtt_client_id=f"caredge-gw-{patient.gateway_id}",
        var_dir=var_dir,
        outbox_path=var_dir / f"gateway-{patient.gateway_id}" / "outbox.db",
        ble="bumble:local:demo",  # documentation only: the backend is handed over in-process
        ble_passkey=DEMO_PASSKEY,
        meter_timezone=None,
        device_ids={meter.ble_address: meter.device_id for meter in patient.meters},
        session_interval_s=SESSION_INTERVAL_S,
        bp_idle_s=BP_IDLE_S,
        heartbeat_seconds=30.0,
    )


@dataclass
class _Home:
    patient: DemoPatient
    radio: VirtualRadio
    meters: dict[str, MeterPeripheral]
    outbox: Outbox
    daemon: GatewayDaemon
    uplink: Uplink


class SimulatedHomes:
    """Every demo patient's home, its meters and its gateway: ``start``, ``take``, ``stop``."""

    def __init__(
        self,
        patients: Sequence[DemoPatient],
        *,
        settings_for: Callable[[DemoPatient], GatewayDaemonSettings],
    ) -> None:
        self._patients = tuple(patients)
        self._settings_for = settings_for
        self._homes: list[_Home] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._taken: list[AnyReading] = []

    @property
    def taken(self) -> int:
        """How many readings the meters took (memories loaded at start included)."""
        with self._lock:
            return len(self._taken)

    def readings(self) -> list[AnyReading]:
        """Every reading the meters took, in order: what the cloud should end up storing."""
        with self._lock:
            return list(self._taken)

    def uplink_stats(self) -> dict[str, UplinkStats]:
        """Each gateway's uplink counters, by gateway id."""
        return {home.patient.gateway_id: home.uplink.stats for home in self._homes}

    def collected(self) -> int:
        """Readings the gateways took from the meters into their outboxes."""
        return sum(
            status.readings_enqueued
            for home in self._homes
            for status in list(home.daemon.meters.values())
        )

    def wait_delivered(self, timeout: float) -> bool:
        """Block until every reading taken was collected and PUBACKed; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.collected() >= self.taken and all(h.uplink.is_empty() for h in self._homes):
                return True
            time.sleep(0.1)
        log.warning("%d readings taken, %d collected by the gateways", self.taken, self.collected())
        return False

    def start(self, memories: Sequence[AnyReading], timeout: float = _START_TIMEOUT_S) -> None:
        """Power the meters on with memories already stored, start the gateways; return then."""
        if self._thread is not None:
            raise HomeError("the simulated homes were already started")
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(memories),), name="demo-homes", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise HomeError(f"the simulated homes did not start within {timeout:.0f}s")
        if self._error is not None:
            raise HomeError(f"the simulated homes failed to start: {self._error}") from self._error

    def take(self, reading: AnyReading, timeout: float = 5.0) -> None:
        """The patient measures: reading goes into the meter (which then advertises)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            raise HomeError("the simulated homes are not running")
        asyncio.run_coroutine_threadsafe(self._take(reading), loop).result(timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the gateways (offline status, outbox closed) and power the meters off."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if thread is None:
            return
        if loop is not None and stop is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the simulated homes did not stop within %.0fs", timeout)
        self._thread = None

    # -- the homes' loop -------------------------------------------------------------------

    async def _take(self, reading: AnyReading) -> None:
        home = next((h for h in self._homes if h.patient.gateway_id == reading.gateway_id), None)
        meter = home.meters.get(reading.device_id) if home is not None else None
        if meter is None:
            raise HomeError(f"no simulated meter {reading.device_id} in {reading.gateway_id}")
        store_reading(meter, reading)
        with self._lock:
            self._taken.append(reading)

    async def _main(self, memories: Sequence[AnyReading]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runs: list[asyncio.Task[None]] = []
        try:
            for patient in self._patients:
                self._homes.append(await self._build(patient))
            for reading in memories:
                await self._take(reading)
            for home in self._homes:
                home.uplink.start()
                runs.append(asyncio.create_task(home.daemon.run(self._stop)))
        except BaseException as exc:
            self._error = exc
            self._stop.set()
        self._ready.set()
        try:
            await self._stop.wait()
            await asyncio.gather(*runs, return_exceptions=True)
        finally:
            await self._close(started=bool(runs))

    async def _build(self, patient: DemoPatient) -> _Home:
        settings = self._settings_for(patient)
        radio = VirtualRadio()
        meters: dict[str, MeterPeripheral] = {}
        for meter in patient.meters:
            kind = BloodPressureMeter if meter.kind == "blood_pressure" else GlucoseMeter
            meters[meter.device_id] = await radio.add(
                kind(
                    name=f"CE-{'BP' if meter.kind == 'blood_pressure' else 'GLU'} "
                    f"{patient.name_en}",
                    address=meter.ble_address,
                    passkey=DEMO_PASSKEY,
                    model=meter.model,
                    serial=meter.serial,
                )
            )
        backend = BleBackend(
            BleakScannerBumble,
            BleakClientBumble,
            {
                "bumble_controller": radio.gateway_controller(patient.gateway_id),
                "bumble_passkey": DEMO_PASSKEY,
            },
        )
        settings.outbox_file.parent.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(settings.outbox_file, max_rows=settings.outbox_max_rows)
        daemon = GatewayDaemon(settings, outbox, backend=backend)
        uplink = Uplink(settings, outbox, daemon.status)
        log.info("home of %s: %d meter(s), gateway %s", patient.name_en, len(meters),
                 patient.gateway_id)  # fmt: skip
        return _Home(patient, radio, meters, outbox, daemon, uplink)

    async def _close(self, *, started: bool) -> None:
        await close_hosts()
        for home in self._homes:
            await home.radio.close()
        if started:
            await asyncio.gather(*(asyncio.to_thread(h.uplink.stop) for h in self._homes))
        for home in self._homes:
            home.outbox.close()
