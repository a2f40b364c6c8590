"""paho-mqtt client construction from settings (TLS, credentials, MQTT v5 session)."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol.broker_url import MqttEndpoint

SESSION_EXPIRY_S = 7 * 24 * 3600  # queued readings wait a week for a stopped worker


def make_client(
    endpoint: MqttEndpoint,
    *,
    client_id: str,
    protocol: str,
    ca_file: str | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client for endpoint: MQTT v5 (or 3.1.1), credentials and TLS when configured."""
    version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=version,
        clean_session=None if version == mqtt.MQTTv5 else False,
        manual_ack=manual_ack,
    )
    if endpoint.username:
        password = endpoint.password.get_secret_value() if endpoint.password else None
        client.username_pw_set(endpoint.username, password)
    if endpoint.tls:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def persistent_session_properties(receive_maximum: int) -> Properties:
    """CONNECT properties of a persistent MQTT v5 session with a bounded in-flight window."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    properties.ReceiveMaximum = max(1, min(receive_maximum, 65535))
    return properties
