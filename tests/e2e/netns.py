"""Separate hosts on one machine: Linux network namespaces, each with its own address on a private bridge,
and a TCP forwarder that makes this machine's PostgreSQL and Redis (listening on loopback) reachable from
them at the bridge's address, as a database host on the network would be.

Inside a namespace, 127.0.0.1 is that namespace's own loopback: a process there reaches another host, the
database or the broker only by the addresses given here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

#: Every name made here starts with this, so that what a killed run left behind is found and removed.
PREFIX = "hubso"
BRIDGE = f"{PREFIX}-br"
SUBNET = "10.231.7"  # a /24 of the private 10/8 that nothing else on a test machine is expected to use
GATEWAY = f"{SUBNET}.1"  # this machine's address on the bridge: PostgreSQL and Redis are reached there


class NetnsUnavailable(Exception):
    """This machine cannot make network namespaces for us (not root, no iproute2, no CAP_NET_ADMIN)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or None when they can (a probe namespace is made and removed)."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` to make network namespaces"
    probe = f"{PREFIX}-probe"
    _ip("netns", "delete", probe, check=False)
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace (no CAP_NET_ADMIN?): {made.stderr.strip()}"
    try:
        link = _ip("link", "add", f"{PREFIX}-probe0", "type", "veth", "peer", "name", "eth0", "netns", probe,
                   check=False)
        if link.returncode != 0:
            return f"cannot make a veth pair (no CAP_NET_ADMIN?): {link.stderr.strip()}"
    finally:
        _ip("netns", "delete", probe, check=False)
        _ip("link", "delete", f"{PREFIX}-probe0", check=False)
    return None


def cleanup() -> None:
    """Remove every namespace and the bridge made by this module, including a killed run's."""
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ", 1)[0].strip()
        if name.startswith(f"{PREFIX}-"):
            _ip("netns", "delete", name, check=False)
    # A namespace's end of a veth pair goes with it, and the bridge's end with that; the bridge stays.
    _ip("link", "delete", BRIDGE, check=False)


@dataclass(frozen=True)
class Host:
    name: str
    address: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    def command(self, cmd: list[str]) -> list[str]:
        """``cmd`` run on this host (in its namespace)."""
        return ["ip", "netns", "exec", self.netns, *cmd]


def make_hosts(names: list[str]) -> dict[str, Host]:
    """One namespace per name on the bridge, addresses .10, .11, … of SUBNET; the bridge itself is GATEWAY."""
    cleanup()
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    hosts = {}
    for index, name in enumerate(names):
        host = Host(name, f"{SUBNET}.{10 + index}")
        veth = f"{PREFIX}{index}"
        _ip("netns", "add", host.netns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", veth, "master", BRIDGE, "up")
        _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.netns, "link", "set", "eth0", "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")
        hosts[name] = host
    return hosts


class TcpForwarder:
    """Listens on ``listen_host`` at each port and relays every connection to ``target_host`` at the same port:
    loopback-only services offered on the bridge. One asyncio loop in a thread of its own.

    Only the test's hosts are let through (a peer in ``SUBNET``): Linux takes a packet for the bridge's
    address on any interface, and what this relays — PostgreSQL's and Redis's loopback access, without a
    password — must not be offered to another machine that routes to this one. A spoofed source cannot
    complete the handshake: the answers to those addresses go to the bridge."""

    def __init__(self, listen_host: str, ports: list[int], target_host: str = "127.0.0.1") -> None:
        self.listen_host, self.ports, self.target_host = listen_host, ports, target_host
        self.loop = asyncio.new_event_loop()
        self.connections = 0  # relayed so far, per the whole forwarder
        self.refused = 0  # connections from outside the test's subnet, closed at once
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def _handler(self, port: int):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = (writer.get_extra_info("peername") or ("",))[0]
            if not str(peer).startswith(f"{SUBNET}."):
                self.refused += 1
                writer.close()
                return
            self.connections += 1
            try:
                target_reader, target_writer = await asyncio.open_connection(self.target_host, port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(self._pipe(reader, target_writer), self._pipe(target_reader, writer))

        return handle

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                for port in self.ports:
                    self._servers.append(self.loop.run_until_complete(
                        asyncio.start_server(self._handler(port), self.listen_host, port, reuse_address=True)))
            except BaseException as exc:  # reported to start()'s caller; the ports already bound are let go
                failure.append(exc)
                for server in self._servers:
                    server.close()
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=serve, name="tcp-forwarder", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the TCP forwarder did not start listening on {self.listen_host} within 10 s")
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._thread is None:
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
