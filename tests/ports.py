"""Loopback ports for the servers tests start, and often stop and start again at one address.

A port from ``bind(("127.0.0.1", 0))`` lies among the kernel's ephemeral ports, the ones it also
gives to outgoing connections: between a test's choice and its server's bind, or while a server
is down for a restart, a connection of a busy run (a fleet opens thousands) may take it, and the
server fails with "address already in use". These ports come from below that range, where no
outgoing connection goes; each is free when chosen, and chosen at random so that tests running
side by side seldom pick the same one.
"""

from __future__ import annotations

import random
import socket

__all__ = ["free_port"]

#: The lowest port chosen from; below it lie the ports services register.
FIRST = 20_000
#: vpcd's virtual reader, in the pcscd the tests start (tests/vpcd_card.py): slots 0 and 1.
TAKEN = frozenset({0x7A7B, 0x7A7C})

_random = random.Random()  # seeded from the system: each xdist worker draws its own


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range."""
    end = _ephemeral_start()
    if end > FIRST + 1000:
        for _ in range(200):
            port = _random.randrange(FIRST, end)
            if port in TAKEN:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as probe:  # a machine with no room below its ephemeral ports
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
