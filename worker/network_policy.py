"""Where the worker may connect on a user's behalf: ``WORKER_BLOCKED_NETWORKS``.

Input downloads, git checkouts and callbacks go to URLs users chose. A host
is resolved once, refused if any of its addresses lies in a blocked network,
and the connection is made to the addresses that were checked, so a name
that resolves differently a moment later (DNS rebinding) gains nothing.
For requests this happens inside the connection, so every redirect hop is
checked too, and TLS still names and verifies the host the URL gave.

The worker's own calls to ``WORKER_API_SERVER`` are configuration, not user
input, and are not checked.
"""

import ipaddress
import os
import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

# Loopback, "this host", RFC 1918, CGNAT, link-local (cloud metadata at
# 169.254.169.254), and their IPv6 counterparts: unspecified, loopback,
# unique-local, link-local and NAT64. IPv6 addresses that spell an IPv4
# one (mapped, compatible, NAT64, 6to4) are also checked as that address.
DEFAULT_BLOCKED_NETWORKS = (
    "0.0.0.0/8,127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,"
    "::/128,::1/128,fc00::/7,fe80::/10,64:ff9b::/96"
)

NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Looked up through this name so that a test can stand in for a DNS server.
getaddrinfo = socket.getaddrinfo


class BlockedAddress(Exception):
    """A URL's host is, or resolves to, an address in a blocked network.

    Not an ``OSError``, so neither urllib3 nor requests takes it for a
    network failure to retry: it reaches the caller as it is.
    """


def blocked_networks(value=None):
    """The networks of ``value``, else of ``WORKER_BLOCKED_NETWORKS``, else the default.

    Comma-separated CIDRs (a bare address is a /32 or /128); set but empty,
    nothing is blocked.
    """
    if value is None:
        value = os.environ.get("WORKER_BLOCKED_NETWORKS", DEFAULT_BLOCKED_NETWORKS)
    parts = [part.strip() for part in value.split(",")]
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


def embedded_ipv4(ip):
    """The IPv4 address an IPv6 address reaches or spells, else None:
    IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d`` and 6to4 ``2002:AABB:CCDD::``."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    value = int(ip)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d, but not :: or ::1
        return ipaddress.IPv4Address(value)
    if ip in NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _network_of(address, networks):
    ip = ipaddress.ip_address(address.split("%")[0])
    candidates = [ip]
    embedded = embedded_ipv4(ip)  # ::ffff:169.254.169.254 reaches the IPv4 host
    if embedded is not None:
        candidates.append(embedded)
    for candidate in candidates:
        for network in networks:
            if candidate.version == network.version and candidate in network:
                return network
    return None


def allowed_addresses(host, port, networks):
    """``getaddrinfo`` answers for ``host`` (TCP), once all were checked.

    Raises ``BlockedAddress`` if any address is in ``networks``, and
    ``socket.gaierror`` when the name does not resolve.
    """
    host = host.strip("[]")
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = info[4][0]
        network = _network_of(address, networks)
        if network is not None:
            what = address if address.split("%")[0] == host else f"{host} resolves to {address}, which"
            raise BlockedAddress(f"{what} is in the blocked network {network} (WORKER_BLOCKED_NETWORKS)")
    return infos


class _CheckedConnection:
    """Connects only to the checked addresses of its host (HTTP and HTTPS).

    The host itself stays as it is: it is what goes in the Host header,
    TLS's SNI and the certificate check.
    """

    blocked = ()

    def _new_conn(self):
        try:
            infos = allowed_addresses(self._dns_host, self.port, self.blocked)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        name, failure = self._dns_host, None
        try:
            for info in infos:
                self._dns_host = info[4][0]  # an address: urllib3 connects without resolving again
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError) as error:
                    failure = error
        finally:
            self._dns_host = name
        raise failure


def _pool_classes(networks):
    def checked(pool, connection):
        connection_class = type(f"Checked{connection.__name__}", (_CheckedConnection, connection), {})
        connection_class.blocked = networks
        return type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": connection_class})

    return {
        "http": checked(HTTPConnectionPool, HTTPConnection),
        "https": checked(HTTPSConnectionPool, HTTPSConnection),
    }


class CheckedAdapter(HTTPAdapter):
    """A requests adapter whose connections obey ``networks``."""

    def __init__(self, networks, **kwargs):
        self.networks = tuple(networks)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.networks)


def checked_session(networks=None, max_retries=0):
    """A requests session for user-given URLs, obeying ``networks``
    (default: ``WORKER_BLOCKED_NETWORKS``).

    Proxies from the environment are not used: through a proxy the worker
    would never see the address it ends up reaching.
    """
    networks = blocked_networks() if networks is None else networks
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter(networks, max_retries=max_retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
