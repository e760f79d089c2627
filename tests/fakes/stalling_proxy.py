"""A TCP proxy on loopback in front of a real server (PostgreSQL) that can be told to stop
answering: `stall()` and nothing more is forwarded either way, on open connections and new
ones alike (they are accepted, then left waiting), as a hung database host or a network
that drops packets would. `resume()` lets everything through again.

    proxy = StallingProxy("127.0.0.1", 5432); proxy.start()
    ... point DATABASE_URL at proxy.port ...
    proxy.stall(); ...; proxy.resume(); proxy.stop()

With no upstream (`StallingProxy(None, None)`) it is a server that accepts connections
and never says a word; `held_for` then lists, per connection the client has given up on,
the seconds from its accept to the client closing it.
"""

from __future__ import annotations

import socket
import threading
import time


class StallingProxy:
    def __init__(self, upstream_host: str | None, upstream_port: int | None) -> None:
        self.upstream = (upstream_host, upstream_port) if upstream_host else None
        self.port = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.held_for: list[float] = []

    def start(self) -> StallingProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="stalling-proxy", daemon=True).start()
        return self

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def stop(self) -> None:
        self._stopped.set()
        self._flowing.set()  # pumps waiting to forward wake up and see the stop
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in [self._listener, *sockets]:
            if sock is not None:
                sock.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            if self.upstream is None:  # accepted, and never answered
                threading.Thread(target=self._until_closed, args=(client,), daemon=True).start()
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _until_closed(self, client: socket.socket) -> None:
        """Reads what the client says until it hangs up, and notes how long that took."""
        accepted = time.monotonic()
        try:
            while client.recv(65536):
                pass
        except OSError:
            return  # closed by stop()
        if not self._stopped.is_set():
            self.held_for.append(time.monotonic() - accepted)

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        self._keep(server)
        for source, target in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()  # a stalled proxy holds what it received
                if self._stopped.is_set():
                    break
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
