"""The fault proxy does what each command says, over real loopback sockets."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.faults.proxy import Mode, TcpProxy
from tests.servers import wait_until

pytestmark = pytest.mark.faults


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with TcpProxy("127.0.0.1", server.server_address[1]) as proxy:
        yield proxy
    server.shutdown()
    server.server_close()


def _client(proxy: TcpProxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=5)
    wait_until(lambda: proxy.open_connections == 1, 5, "the proxy to open its upstream")
    return sock


def test_pass_forwards_both_ways(proxy: TcpProxy) -> None:
    with _client(proxy) as sock:
        sock.sendall(b"hello")
        assert sock.recv(16) == b"hello"


def test_stall_holds_bytes_without_closing_then_delivers(proxy: TcpProxy) -> None:
    with _client(proxy) as sock:
        proxy.set_mode(Mode.STALL)
        sock.sendall(b"held")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(16)  # nothing arrives and the connection stays open
        assert proxy.open_connections == 1
        proxy.set_mode(Mode.PASS)
        sock.settimeout(5)
        assert sock.recv(16) == b"held"


def test_drop_discards_bytes(proxy: TcpProxy) -> None:
    with _client(proxy) as sock:
        proxy.set_mode(Mode.DROP)
        sock.sendall(b"lost")
        wait_until(lambda: proxy.stats.dropped == 4, 5, "the proxy to discard 4 bytes")
        proxy.set_mode(Mode.PASS)
        sock.sendall(b"kept")
        assert sock.recv(16) == b"kept"


def test_cut_with_fin_is_an_orderly_close(proxy: TcpProxy) -> None:
    with _client(proxy) as sock:
        assert proxy.cut(reset=False) == 1
        assert sock.recv(16) == b""


def test_cut_with_reset_is_a_reset(proxy: TcpProxy) -> None:
    with _client(proxy) as sock:
        assert proxy.cut(reset=True) == 1
        with pytest.raises(ConnectionResetError):
            _read_to_end(sock)


def _read_to_end(sock: socket.socket) -> None:
    while sock.recv(16):
        pass
