"""A broker with per-gateway credentials, an ACL and optionally TLS, built at test time.

Passwords are hashed with `mosquitto_passwd`; certificates come from `openssl` in the
test's temp dir. Nothing here is committed: every key is made fresh per test.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.servers import Mosquitto, find_binary, free_port

ACL = """\
user collector
topic read batchmeter/v1/+/+/readings
topic read batchmeter/v1/+/+/events
topic write batchmeter/v1/+/+/ack

pattern write batchmeter/v1/+/%u/readings
pattern write batchmeter/v1/+/%u/events
pattern write batchmeter/v1/+/%u/status
pattern read batchmeter/v1/+/%u/ack
"""


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_tls(workdir: Path) -> Tls:
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca, ca_key = workdir / "ca.crt", workdir / "ca.key"
    cert, key, csr = workdir / "server.crt", workdir / "server.key", workdir / "server.csr"
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
             "-days", "1", "-subj", "/CN=batchmeter test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", "/CN=127.0.0.1")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(cert), "-days", "1", "-extfile", str(ext))
    key.chmod(0o644)  # mosquitto may drop privileges; the file lives in a private temp dir
    return Tls(ca, cert, key)


@dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path


def make_client_cert(tls: Tls, name: str) -> ClientCert:
    """A client certificate with CN=`name`, signed by the test CA of `tls` (mutual TLS)."""
    workdir = tls.ca.parent
    cert, key, csr = workdir / f"{name}.crt", workdir / f"{name}.key", workdir / f"{name}.csr"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(tls.ca), "-CAkey", str(workdir / "ca.key"),
             "-CAcreateserial", "-out", str(cert), "-days", "1")
    return ClientCert(cert, key)


@dataclass
class SecureBroker:
    """Password users and the ACL; with `client_certs`, TLS that requires a client certificate
    instead of a password, its CN being the user name the ACL applies to."""

    workdir: Path
    users: list[str]
    tls: Tls | None = None
    client_certs: bool = False
    passwords: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    def start(self) -> Mosquitto:
        self.workdir.mkdir(parents=True, exist_ok=True)
        acl = self.workdir / "acl"
        acl.write_text(ACL)
        tls = "" if self.tls is None else (
            f"cafile {self.tls.ca}\ncertfile {self.tls.cert}\nkeyfile {self.tls.key}\n"
        )
        if self.client_certs:
            assert self.tls is not None, "client certificates need TLS"
            tls += "require_certificate true\nuse_identity_as_username true\n"
        else:
            tls += f"password_file {self._password_file()}\n"
        # As root, mosquitto drops to its own user, which cannot read a private temp dir.
        user = "user root\n" if os.geteuid() == 0 else ""
        config = (f"{user}listener {self.port} 127.0.0.1\n{tls}allow_anonymous false\n"
                  f"acl_file {acl}\nlog_type all\n")
        return Mosquitto(self.workdir / "broker", extra_config=config, port=self.port).start()

    def _password_file(self) -> Path:
        passwd = self.workdir / "passwd"
        tool = find_binary(["mosquitto_passwd"], "mosquitto")
        for index, user in enumerate(self.users):
            self.passwords[user] = "pw-" + secrets.token_hex(12)
            create = ["-c"] if index == 0 else []
            subprocess.run([tool, *create, "-b", str(passwd), user, self.passwords[user]],
                           check=True, capture_output=True, timeout=30)
        return passwd


@dataclass
class Attempt:
    """What the broker answered one client: CONNACK, and PUBACK per publish."""

    connack: Any = None
    pubacks: dict[int, Any] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    acked: threading.Event = field(default_factory=threading.Event)


def mqtt_client(name: str, attempt: Attempt, username: str | None = None, password: str | None = None,
                ca_file: Path | None = None) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))

    def on_connect(c: paho.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        attempt.connack = reason
        attempt.connected.set()

    def on_publish(c: paho.Client, u: Any, mid: int, reason: Any, props: Any) -> None:
        attempt.pubacks[mid] = reason
        attempt.acked.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    return client
