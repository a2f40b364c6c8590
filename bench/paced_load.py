"""Background load for latency benchmarks: in-range readings at a paced rate, QoS 1.

Several publisher processes (a single paho publisher is the bottleneck of a Python pipeline,
shared/MEASURED.md) each own a share of the gateways and of the rate. Each one publishes on a
10 ms tick what the schedule owes, so a late tick catches up instead of lowering the rate, and
counts what the broker acknowledged (PUBACK) in a shared counter: the achieved rate is
measured, not assumed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.envelope import BloodPressureReading, GlucoseReading, encode_reading
from protocol.topics import GatewayTopic

TICK_S = 0.01
#: QoS 1 messages awaiting PUBACK per publisher; bounded well below the 16-bit packet id space.
MAX_INFLIGHT = 2000
START_TIMEOUT_S = 20.0


class LoadError(RuntimeError):
    """A publisher process did not start."""


def in_range_reading(
    gateway_id: str, seq: int, rng: random.Random
) -> BloodPressureReading | GlucoseReading:
    """A reading that breaches no default rule: BP 105-150 / 65-95, glucose 5.5-8.5 mmol/L."""
    now = datetime.now(UTC)
    if seq % 2:
        return BloodPressureReading(
            gateway_id=gateway_id,
            device_id=f"bp-{gateway_id}",
            seq=seq,
            measured_at=now,
            systolic_mmhg=rng.randint(105, 150),
            diastolic_mmhg=rng.randint(65, 95),
            pulse_bpm=rng.randint(55, 95),
        )
    return GlucoseReading(
        gateway_id=gateway_id,
        device_id=f"glu-{gateway_id}",
        seq=seq,
        measured_at=now,
        glucose_mmol_l=round(rng.uniform(5.5, 8.5), 1),
    )


def _publish_paced(
    port: int,
    gateways: Sequence[str],
    rate: float,
    client_id: str,
    acked: Synchronized[int],
    ready: EventType,
    stop: EventType,
) -> None:
    """Publish round-robin over gateways at rate/s until stop is set (child process body)."""
    done = 0

    def on_publish(*_: object) -> None:
        nonlocal done
        done += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    rng = random.Random(client_id)
    topics = [str(GatewayTopic(gateway, "reading")) for gateway in gateways]
    seqs = [0] * len(gateways)
    sent = 0
    try:
        ready.set()
        started = time.monotonic()
        while not stop.is_set():
            owed = int((time.monotonic() - started) * rate) - sent
            for _ in range(owed):
                index = sent % len(gateways)
                seqs[index] += 1
                reading = in_range_reading(gateways[index], seqs[index], rng)
                client.publish(topics[index], encode_reading(reading), qos=1)
                sent += 1
            acked.value = done
            time.sleep(TICK_S)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent cleans up
        pass
    finally:
        acked.value = done
        client.disconnect()
        client.loop_stop()


@dataclass
class PacedLoad:
    """publishers processes sharing rate/s over gateways; use as a context manager."""

    port: int
    gateways: Sequence[str]
    rate: float
    publishers: int = 2
    _acked: list[Synchronized[int]] = field(init=False, default_factory=list)
    _stop: EventType | None = field(init=False, default=None)
    _processes: list[BaseProcess] = field(init=False, default_factory=list)

    def __enter__(self) -> PacedLoad:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the publishers and wait until each is connected and publishing."""
        if self.publishers < 1 or len(self.gateways) < self.publishers:
            raise ValueError("need at least one publisher and one gateway per publisher")
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._stop = context.Event()
        readies = []
        for number in range(self.publishers):
            acked = context.Value("q", 0, lock=False)
            ready = context.Event()
            process = context.Process(
                target=_publish_paced,
                args=(
                    self.port,
                    list(self.gateways[number :: self.publishers]),
                    self.rate / self.publishers,
                    f"bench-load-{number}",
                    acked,
                    ready,
                    self._stop,
                ),
                name=f"bench-load-{number}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)
            self._acked.append(acked)
            readies.append(ready)
        deadline = time.monotonic() + START_TIMEOUT_S
        for publisher, ready in zip(self._processes, readies, strict=True):
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                raise LoadError(f"{publisher.name} did not start (exit code {publisher.exitcode})")

    def pids(self) -> list[int]:
        """Process ids of the publishers."""
        return [process.pid for process in self._processes if process.pid is not None]

    def acknowledged(self) -> int:
        """Readings the broker has acknowledged so far, over all publishers."""
        return sum(counter.value for counter in self._acked)

    def stop(self) -> None:
        """Stop every publisher; terminate one that does not finish in time."""
        if self._stop is not None:
            self._stop.set()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
            with contextlib.suppress(ValueError):
                process.close()
        self._processes.clear()
