"""A virtual BLE radio: one bumble ``LocalLink`` with a controller per meter, beacon and gateway.

Meters and beacons each get a bumble ``Controller`` and ``Device`` in this process. A gateway
gets a controller whose host side is either handed over in-process (``gateway_controller``, for
fast tests: pass it to the bleak backend as ``bumble_controller=``) or exposed as a bumble
``tcp-server`` HCI transport (``serve_gateway``) that another process attaches to with the
transport spec ``tcp-client:127.0.0.1:PORT`` (gateway setting ``bumble:tcp-client:127.0.0.1:PORT``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bumble import hci, ll
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

logger = logging.getLogger(__name__)

RssiModel = Callable[[str, str], int | None]
"""(gateway name, advertiser address) → RSSI in dBm reported to that gateway, None = default."""


class Peripheral(Protocol):
    """What the radio needs from a meter or beacon."""

    name: str
    address: str | None

    def attach(self, device: Device) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


P = TypeVar("P", bound=Peripheral)


class GatewayController(Controller):
    """A controller for a gateway host: per-gateway RSSI, and a clean slate on HCI Reset.

    bumble's virtual controller reports every advertisement with RSSI -50 and ignores most of
    HCI Reset; a gateway process that restarts would find its old links still up on the meters.
    """

    def __init__(self, *args: Any, rssi_model: RssiModel | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rssi_model = rssi_model

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.rssi_model is not None and isinstance(
            packet, hci.HCI_LE_Extended_Advertising_Report_Event
        ):
            reports = []
            for report in packet.reports:
                rssi = self.rssi_model(self.name, str(report.address))
                reports.append(report if rssi is None else dataclasses.replace(report, rssi=rssi))
            packet = hci.HCI_LE_Extended_Advertising_Report_Event(reports)
        super().send_hci_packet(packet)

    def on_hci_reset_command(self, command: hci.HCI_Reset_Command) -> Any:
        for peer_address, connection in list(self.le_connections.items()):
            logger.info("%s: reset drops link to %s", self.name, peer_address)
            connection.send_ll_control_pdu(
                ll.TerminateInd(hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR)
            )
            del self.le_connections[peer_address]
        self.le_scan_enable = False
        self.pending_le_connection = None
        return super().on_hci_reset_command(command)


@dataclasses.dataclass
class GatewayEndpoint:
    """A gateway controller served over TCP; ``spec`` is what the gateway process opens."""

    name: str
    port: int
    controller: GatewayController
    transport: Transport

    @property
    def spec(self) -> str:
        """bumble transport spec for the gateway side."""
        return f"tcp-client:127.0.0.1:{self.port}"


class VirtualRadio:
    """The shared air: add meters and beacons, then attach gateways in- or out-of-process."""

    def __init__(self, rssi_model: RssiModel | None = None) -> None:
        self.link = LocalLink()
        self.rssi_model = rssi_model
        self.peripherals: list[Peripheral] = []
        self.devices: list[Device] = []
        self.gateways: list[GatewayEndpoint] = []
        self._controllers: list[Controller] = []
        self._next_index = 1

    def _allocate_address(self) -> str:
        # Static random addresses: the two most significant bits are 1 (Core Vol 6 B 1.3.2.1).
        index = self._next_index
        self._next_index += 1
        return f"C0:CA:ED:00:{index >> 8 & 0xFF:02X}:{index & 0xFF:02X}"

    async def add(self, peripheral: P) -> P:
        """Give ``peripheral`` a controller and a powered-on device, then start it."""
        address = peripheral.address or self._allocate_address()
        peripheral.address = address
        # No public address: the device's identity is then its static random address, the one
        # it advertises with, so a collector files the bond under the address it connects to.
        controller = Controller(peripheral.name, link=self.link)
        device = Device(
            name=peripheral.name,
            address=hci.Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        # bumble's default IRK is 16 zero bytes; give each device its own (distributed in SMP).
        device.irk = hashlib.sha256(f"irk:{address}".encode()).digest()[:16]
        peripheral.attach(device)
        await device.power_on()
        self._controllers.append(controller)
        self.devices.append(device)
        self.peripherals.append(peripheral)
        await peripheral.start()
        logger.info("radio: %s at %s", peripheral.name, address)
        return peripheral

    def gateway_controller(self, name: str = "gateway") -> GatewayController:
        """A host-less controller for an in-process bleak backend (``bumble_controller=``)."""
        controller = GatewayController(name, link=self.link, rssi_model=self.rssi_model)
        self._controllers.append(controller)
        return controller

    async def serve_gateway(self, port: int, name: str = "gateway") -> GatewayEndpoint:
        """Expose a gateway controller as an HCI transport on TCP ``port`` (all interfaces)."""
        transport = await open_transport(f"tcp-server:_:{port}")
        controller = GatewayController(
            name,
            host_source=transport.source,
            host_sink=transport.sink,
            link=self.link,
            rssi_model=self.rssi_model,
        )
        self._controllers.append(controller)
        endpoint = GatewayEndpoint(name=name, port=port, controller=controller, transport=transport)
        self.gateways.append(endpoint)
        logger.info("radio: gateway %s served on tcp port %d", name, port)
        return endpoint

    async def close(self) -> None:
        """Stop peripherals, power devices off and close gateway transports."""
        for peripheral in self.peripherals:
            await peripheral.stop()
        for device in self.devices:
            try:
                await asyncio.wait_for(device.power_off(), timeout=2)
            except Exception:  # a half-closed link must not stop the rest from closing
                logger.debug("radio: power off of %s failed", device.name, exc_info=True)
        for endpoint in self.gateways:
            await endpoint.transport.close()
        for controller in self._controllers:
            if controller in self.link.controllers:
                self.link.remove_controller(controller)

    async def __aenter__(self) -> VirtualRadio:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
