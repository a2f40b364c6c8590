"""The gateway daemon: scan for meters, run a session per advertising meter, drain the outbox.

One asyncio loop owns BLE: a ``BleakScanner`` filtered on the Blood Pressure (0x1810) and
Glucose (0x1808) services runs for the daemon's whole life, and its detection callback starts a
:class:`~edge.gateway.coordinator.MeterSession` for a meter that advertises (meters advertise
only briefly after a measurement, so the connection starts from the callback). Several meters
run in parallel (``max_connections``); a meter whose session ended waits ``session_interval_s``
before the next one (after a failure: exponential back-off), and a meter out of range simply
stops advertising until it comes back. The :class:`~edge.uplink.Uplink` drains the outbox to
MQTT in its own threads and reports the status provider's figures in every heartbeat.

SIGINT/SIGTERM: stop scanning, cancel the sessions (each disconnects its meter; records not
yet committed are asked for again next time, by cursor), stop the uplink with a retained
offline status, close the outbox. Run it with ``caredge gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from pydantic import Field, field_validator, model_validator

from edge.ble.backend import BleBackend, backend_from_config
from edge.gateway import policy
from edge.gateway.coordinator import (
    SERVICE_OF_KIND,
    MeterKind,
    MeterSession,
    MeterStatus,
    NotBondedError,
    SessionConfig,
    SessionError,
    kind_from_services,
)
from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink

log = logging.getLogger(__name__)

#: After this many seconds a session is abandoned (a meter that streams forever, a stuck stack).
SESSION_LIMIT_S = 300.0


class GatewayDaemonSettings(GatewaySettings):
    """Gateway settings plus the BLE session options (all ``CAREDGE_*``).

    ``device_ids`` is a JSON object ``{"C0:CA:ED:00:01:01": "bp-home-1"}`` overriding the
    derived device ids; ``meter_timezone`` is an IANA name (default: this machine's zone).
    """

    ble_passkey: int | None = Field(default=None, ge=0, le=999_999)
    ble_keystore: Path | None = None
    pair_unbonded: bool = True
    meter_timezone: str | None = None
    clock_skew_minutes: float = Field(default=5.0, ge=0)
    set_meter_clock: bool = True
    device_ids: dict[str, str] = Field(default_factory=dict)
    session_interval_s: float = Field(default=10.0, ge=0)
    max_connections: int = Field(default=2, ge=1)
    connect_timeout_s: float = Field(default=20.0, gt=0)
    bp_idle_s: float = Field(default=2.0, gt=0)
    racp_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("meter_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            ZoneInfo(value)  # raises for an unknown zone
        return value or None

    @model_validator(mode="after")
    def _keystore_default(self) -> GatewayDaemonSettings:
        if self.ble_keystore is None:
            self.ble_keystore = self.var_dir / f"gateway-{self.gateway_id}" / "bonds.json"
        return self

    @property
    def zone(self) -> tzinfo | None:
        """The meters' time zone (None: this machine's local zone)."""
        return ZoneInfo(self.meter_timezone) if self.meter_timezone else None

    def session_config(self) -> SessionConfig:
        """The per-session options."""
        return SessionConfig(
            gateway_id=self.gateway_id,
            passkey=self.ble_passkey,
            pair_unbonded=self.pair_unbonded,
            zone=self.zone,
            skew_threshold=timedelta(minutes=self.clock_skew_minutes),
            set_meter_clock=self.set_meter_clock,
            device_ids=dict(self.device_ids),
            connect_timeout_s=self.connect_timeout_s,
            bp_idle_s=self.bp_idle_s,
            racp_timeout_s=self.racp_timeout_s,
        )

    def backend(self) -> BleBackend:
        """The bleak backend classes and keyword arguments for ``ble``."""
        keystore = self.ble_keystore
        if keystore is not None and self.ble.startswith("bumble:"):
            keystore.parent.mkdir(parents=True, exist_ok=True)
        return backend_from_config(
            self.ble,
            passkey=self.ble_passkey,
            keystore=str(keystore) if keystore is not None else None,
        )


class GatewayDaemon:
    """Scanner, meter sessions and uplink of one gateway; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: GatewayDaemonSettings,
        outbox: Outbox,
        *,
        backend: BleBackend | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.backend = backend or settings.backend()
        self.config = settings.session_config()
        self.meters: dict[str, MeterStatus] = {}
        self.parse_errors = policy.ParseErrorTracker()
        self._sessions: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._lock = threading.Lock()  # the uplink thread reads the meters for the status
        self._stopping = False

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Gateway figures for the heartbeat (the uplink adds the outbox figures).

        Per meter (keyed by device id): last advertisement seen (``last_seen``), last
        session, battery, RSSI, failures; the payload is described in docs/gateway.md.
        """
        with self._lock:
            meters = {
                status.device_id or address: status.snapshot()
                for address, status in self.meters.items()
            }
        return {
            "meters": meters,
            "parse_errors": self.parse_errors.total,
            "parse_errors_failing": self.parse_errors.failing(),
            "sessions_running": len(self._sessions),
        }

    # -- main loop --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Scan and collect until ``stop`` is set, then shut everything down cleanly."""
        scanner = BleakScanner(
            detection_callback=self._on_advertisement,
            service_uuids=list(SERVICE_OF_KIND.values()),
            backend=self.backend.scanner,
            **self.backend.kwargs,
        )
        log.info(
            "gateway %s: scanning for meters on %s", self.settings.gateway_id, self.settings.ble
        )
        await scanner.start()
        try:
            await stop.wait()
        finally:
            self._stopping = True
            log.info("gateway %s: stopping", self.settings.gateway_id)
            with contextlib.suppress(Exception):
                await scanner.stop()
            tasks = list(self._sessions.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

    def _on_advertisement(self, device: BLEDevice, advertisement: AdvertisementData) -> None:
        kind = kind_from_services(advertisement.service_uuids)
        if kind is None or self._stopping:
            return
        address = device.address
        with self._lock:
            status = self.meters.get(address)
            if status is None:
                status = self.meters[address] = MeterStatus(address=address, kind=kind)
                log.info(
                    "meter %s (%s, %s) in range", advertisement.local_name, address, kind.value
                )
            status.name = advertisement.local_name or status.name
            status.rssi = advertisement.rssi
            status.last_seen = time.time()
        if address in self._sessions:
            return
        ready_at = policy.next_session_at(
            status.last_session_end,
            failures=status.failures,
            interval=self.settings.session_interval_s,
            now=time.monotonic(),
        )
        if time.monotonic() < ready_at:
            return
        task = asyncio.get_running_loop().create_task(self._session(device, kind, status))
        self._sessions[address] = task
        task.add_done_callback(lambda _task: self._sessions.pop(address, None))

    async def _session(self, device: BLEDevice, kind: MeterKind, status: MeterStatus) -> None:
        async with self._slots:
            if self._stopping:
                return
            session = MeterSession(
                device,
                kind,
                config=self.config,
                outbox=self.outbox,
                backend=self.backend,
                status=status,
                parse_errors=self.parse_errors,
            )
            status.sessions += 1
            try:
                result = await asyncio.wait_for(session.run(), SESSION_LIMIT_S)
            except asyncio.CancelledError:
                log.info("%s: session cancelled", session.label)
                raise
            except NotBondedError as error:
                status.failures = max(status.failures + 1, 6)  # a minute: pairing is manual
                status.last_error = error.reason
                log.warning("%s: %s", session.label, error.reason)
            except (SessionError, TimeoutError) as error:
                status.failures += 1
                status.last_error = getattr(error, "reason", None) or "session timed out"
                log.warning(
                    "%s: session failed (%s), retry in %.0fs",
                    session.label,
                    status.last_error,
                    policy.retry_delay(status.failures),
                )
            except Exception as error:  # a bug must not kill the daemon; the meter is retried
                status.failures += 1
                status.last_error = f"{type(error).__name__}: {error}"
                log.exception("%s: session crashed", session.label)
            else:
                status.failures = 0
                status.last_error = None
                log.info(
                    "%s: session done: %d new reading(s), %d already known, %d unusable, "
                    "%d control solution%s",
                    session.label,
                    result.enqueued,
                    result.skipped_known,
                    result.unusable,
                    result.control_solution,
                    ", clock set" if result.clock_written else "",
                )
            finally:
                status.last_session_end = time.monotonic()
                status.last_session_at = time.time()


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)

    def remove() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return remove


async def run_gateway(settings: GatewayDaemonSettings, stop: asyncio.Event | None = None) -> None:
    """Open the outbox, start the uplink and the daemon; return after SIGINT/SIGTERM or ``stop``."""
    stop = stop or asyncio.Event()
    remove_handlers = _install_signal_handlers(stop)
    outbox = Outbox(settings.outbox_file, max_rows=settings.outbox_max_rows)
    daemon = GatewayDaemon(settings, outbox)
    uplink = Uplink(settings, outbox, daemon.status)
    uplink.start()
    try:
        await daemon.run(stop)
    finally:
        remove_handlers()
        await asyncio.to_thread(uplink.stop)
        outbox.close()
        log.info("gateway %s stopped", settings.gateway_id)


def main() -> None:
    """Run the gateway from ``CAREDGE_*`` settings (the body of ``caredge gateway``)."""
    settings = GatewayDaemonSettings()  # type: ignore[call-arg]  # fields come from CAREDGE_*
    asyncio.run(run_gateway(settings))
