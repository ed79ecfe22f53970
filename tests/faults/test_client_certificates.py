"""Mutual TLS: a gateway proves who it is with its own client certificate instead of a password.

The broker requires a client certificate signed by the plant's CA and takes the certificate's
CN as the user name the ACL applies to (`use_identity_as_username`). The real agent (in a
thread) polls a real Modbus TCP server and publishes; an acker with the collector's
certificate stands in for the collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.profile import load_profile
from tests.agent_harness import GATEWAY, Acker, AgentThread, gateway_dict, write_config
from tests.agent_modbus_server import ModbusTestServer
from tests.faults.secure import SecureBroker, Tls, make_client_cert, make_tls
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.faults

SDM630 = load_profile("sdm630")


@pytest.fixture
def pki(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "pki")


@pytest.fixture
def broker(tmp_path: Path, pki: Tls) -> Iterator[Mosquitto]:
    server = SecureBroker(tmp_path / "secure", [], tls=pki, client_certs=True).start()
    yield server
    server.stop()


@pytest.fixture
def acker(broker: Mosquitto, pki: Tls) -> Iterator[Acker]:
    mine = make_client_cert(pki, "collector")
    acker = Acker(broker.host, broker.port, tls=(pki.ca, mine.cert, mine.key))
    yield acker
    acker.close()


def _agent_config(tmp_path: Path, broker: Mosquitto, modbus: ModbusTestServer, tls: dict[str, Any]) -> Path:
    modbus.unit(1).set_quantity(SDM630, "energy_import_kwh", 100.0)
    connection = {"type": "tcp", "host": modbus.host, "port": modbus.port, "timeout": 0.3, "retries": 0}
    device = {"id": "meter-1", "connection": "bus", "unit": 1, "profile": "sdm630", "poll_interval": 0.2}
    data = gateway_dict(broker.port, tmp_path / "outbox.sqlite", {"bus": connection}, [device], tls=tls)
    return write_config(tmp_path / "gw.yaml", data)


def test_a_gateway_with_its_own_certificate_publishes_and_is_acknowledged(
    tmp_path: Path, pki: Tls, broker: Mosquitto, acker: Acker
) -> None:
    mine = make_client_cert(pki, GATEWAY)
    tls = {"ca_file": str(pki.ca), "cert_file": str(mine.cert), "key_file": str(mine.key)}
    with ModbusTestServer() as modbus, AgentThread(_agent_config(tmp_path, broker, modbus, tls)) as running:
        wait_until(lambda: len(acker.messages) >= 5, 20, "five readings messages over mutual TLS")
        wait_until(lambda: running.agent.outbox.depth == 0, 10, "the outbox drained by the acks")
        assert running.error is None
    assert all(r["device"] == "meter-1" for r in acker.readings())


def test_without_a_client_certificate_the_gateway_is_refused_and_keeps_its_readings(
    tmp_path: Path, pki: Tls, broker: Mosquitto, acker: Acker
) -> None:
    tls = {"ca_file": str(pki.ca)}
    with ModbusTestServer() as modbus, AgentThread(_agent_config(tmp_path, broker, modbus, tls)) as running:
        publisher = running.agent.publisher
        # TLS 1.3: the client learns of the refusal from an alert after its side of the
        # handshake, on its first read, so the attempt ends there and not at connect
        wait_until(lambda: publisher.counters["disconnects"] >= 1, 30, "a refused connection attempt")
        wait_until(lambda: running.agent.outbox.depth >= 5, 10, "readings kept in the outbox")
        assert not publisher.connected
        assert running.error is None
    assert acker.messages == {}


def test_another_gateways_certificate_cannot_publish_as_this_gateway(
    tmp_path: Path, pki: Tls, broker: Mosquitto, acker: Acker
) -> None:
    # a valid certificate, but its CN names gateway gw-x: the ACL lets it write only gw-x's topics
    theirs = make_client_cert(pki, "gw-x")
    tls = {"ca_file": str(pki.ca), "cert_file": str(theirs.cert), "key_file": str(theirs.key)}
    with ModbusTestServer() as modbus, AgentThread(_agent_config(tmp_path, broker, modbus, tls)) as running:
        publisher = running.agent.publisher
        wait_until(lambda: publisher.counters["published"] >= 5, 20, "five messages sent to the broker")
        first_sent_long_ago = acker.messages  # the broker forwards within ms; none came
        assert first_sent_long_ago == {}
        assert running.agent.outbox.depth >= 5  # never acknowledged, so never dropped
        assert running.error is None
