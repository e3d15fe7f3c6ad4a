"""The addresses of the local API: ``"host:port"`` as the config writes it, and whether a host is
loopback (reachable from this machine only), which decides who the API trusts without a token.
"""

from __future__ import annotations

import ipaddress

__all__ = ["host_of_header", "is_loopback", "split_host_port"]


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[::1]:8180"`` for IPv6); ValueError says what is wrong."""
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise ValueError('must be "host:port", e.g. "127.0.0.1:8180" (or "" to turn it off)')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError('must put an IPv6 address in brackets, e.g. "[::1]:8180"')
    if not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must end with a port number from 0 to 65535")
    if not host or any(c.isspace() for c in host):
        raise ValueError('must be "host:port", e.g. "127.0.0.1:8180" (or "" to turn it off)')
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) can be reached from this machine only.
    Any other name may resolve to an address others reach, so it is not taken for loopback."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def host_of_header(value: str) -> str:
    """The host of an HTTP ``Host`` header (``"127.0.0.1:8180"``, ``"[::1]"``, ``"pi.local"``),
    without its port and brackets."""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    host, colon, port = value.rpartition(":")
    return host if colon and port.isdigit() else value
