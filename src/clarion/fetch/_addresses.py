"""Which IP addresses a user-supplied URL may make us connect to.

The check is on addresses, not names: whatever a host name resolves to (or an IP literal
spelt in decimal, octal or IPv6 form) ends up here as an ``ipaddress`` object. The network
table is written out rather than taken from ``is_private``/``is_global``, whose contents
changed between Python patch releases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final, TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


def _networks(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in pairs)


_BLOCKED_V4: Final = _networks(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)

_BLOCKED_V6: Final = _networks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved"),  # deprecated IPv4-compatible addresses
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),
    ("2001::/23", "reserved"),  # includes Teredo, which tunnels to an arbitrary IPv4 host
    ("2001:db8::/32", "reserved"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # deprecated site-local
    ("ff00::/8", "multicast"),
)

_GLOBAL_UNICAST_V6: Final = ipaddress.ip_network("2000::/3")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64 or 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_problem(address: IPAddress) -> str | None:
    """Name what makes ``address`` unsafe to fetch from ("private", "loopback"...), or None."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return address_problem(inner)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        return _kind(address, _BLOCKED_V4)
    kind = _kind(address, _BLOCKED_V6)
    if kind is None and address not in _GLOBAL_UNICAST_V6:
        # Outside 2000::/3 nothing is assigned for use on the public internet.
        return "reserved"
    return kind


def _kind(address: IPAddress, table: tuple[tuple[IPNetwork, str], ...]) -> str | None:
    return next((kind for network, kind in table if address in network), None)


class AddressGuard:
    """Applies a policy's exceptions (``allow_private``, ``allowed_hosts``) to the table."""

    def __init__(self, *, allow_private: bool, allowed_hosts: Iterable[str]) -> None:
        self._allow_private = allow_private
        self._names: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allowed_hosts:
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._names.add(normalize_host(entry))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, or None."""
        problem = address_problem(address)
        if problem is None or self._is_allowed(host, address):
            return None
        if self._allow_private and problem != "cloud metadata":
            return None
        return f"refusing to fetch from a {problem} address {_spelt_out(address)} (host {host})"

    def _is_allowed(self, host: str, address: IPAddress) -> bool:
        if normalize_host(host) in self._names:
            return True
        candidates = [address, *filter(None, [embedded_ipv4(address)])]
        # `in` is simply False across IP versions, so v4 and v6 networks can be mixed.
        return any(candidate in network for network in self._networks for candidate in candidates)


def _spelt_out(address: IPAddress) -> str:
    inner = embedded_ipv4(address)
    return str(address) if inner is None else f"{address} ({inner})"


def ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for (None for a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def normalize_host(host: str) -> str:
    """Lower-case, without brackets or a trailing dot: the form allowed_hosts compares."""
    return host.strip().strip("[]").rstrip(".").lower()
