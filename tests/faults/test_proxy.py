"""The proxy itself, against a local echo server: what the fault tests rely on it doing."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.faults.proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    relay = TcpProxy("127.0.0.1", server.server_address[1])
    relay.restore()
    yield relay
    relay.close()
    server.shutdown()
    server.server_close()


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def _echoes(sock: socket.socket, data: bytes = b"ping") -> bool:
    sock.sendall(data)
    try:
        return sock.recv(4096) == data
    except TimeoutError:
        return False


def _closed(sock: socket.socket) -> bool:
    """The other end closed the connection (a FIN or a reset), rather than staying silent."""
    sock.settimeout(2)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_relays_until_cut_then_refuses(proxy: TcpProxy) -> None:
    with _connect(proxy) as sock:
        assert _echoes(sock)
        proxy.cut()
        assert _closed(sock)
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
    proxy.restore()
    with _connect(proxy) as sock:
        assert _echoes(sock)


def test_blackhole_drops_bytes_silently_and_restore_resets_what_lost_bytes(
    proxy: TcpProxy,
) -> None:
    with _connect(proxy) as idle, _connect(proxy) as busy:
        assert _echoes(idle) and _echoes(busy)
        proxy.blackhole()
        busy.settimeout(0.5)
        assert not _echoes(busy)  # no answer, and no error either
        with _connect(proxy) as late:  # accepted, into nothing
            late.settimeout(0.5)
            assert not _echoes(late)
            proxy.restore()
            assert _closed(late)  # it lost bytes: reset
        assert _closed(busy)
        assert _echoes(idle)  # it lost nothing: it goes on
    with _connect(proxy) as sock:
        assert _echoes(sock)


def test_url_points_through_the_proxy(proxy: TcpProxy) -> None:
    url = proxy.url("amqp://guest:secret@rabbit.example:5672/vhost?heartbeat=5")
    assert url == f"amqp://guest:secret@127.0.0.1:{proxy.port}/vhost?heartbeat=5"
    assert proxy.url("postgresql://db.example/test") == f"postgresql://127.0.0.1:{proxy.port}/test"
