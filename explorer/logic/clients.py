"""Who a visitor is, for the server's limits: a client, not a browser session.

Sessions are free (every tab, every reload is a new one), so the training queue and the disk
quota count per client. A client is

  * the user a proxy in front of the app authenticated, when the operator names the header
    the proxy sets (``client_header``; trusted only then, since a visitor can send any header);
  * otherwise the address the connection came from: an IPv4 address, or the /64 network of
    an IPv6 one (one household or phone gets a whole /64 and picks addresses in it at will).

``client_key`` turns that into the name stored next to a workspace: a hash, so that
addresses and user names are not written to disk in plain text. Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping

LOCAL = "local"  # Streamlit gives no address for connections from this machine
MAX_USER_CHARS = 256
IPV6_PREFIX = 64


def client_id(address: str | None, headers: Mapping[str, str] | None = None, header: str | None = None) -> str:
    """The client a connection belongs to: ``user:NAME`` from ``header`` (when the operator set one
    and the request carries it), else ``address:IP`` (``address:NET/64`` for IPv6, ``address:local``)."""
    if header:
        user = str((headers or {}).get(header) or "").strip()
        if user:
            return "user:" + user[:MAX_USER_CHARS]
    return "address:" + _address(address)


def _address(address: str | None) -> str:
    if not address or not isinstance(address, str):  # Streamlit's AppTest hands out a mock
        return LOCAL
    try:
        ip = ipaddress.ip_address(address.split("%")[0])  # a zone index (fe80::1%eth0) names no other host
    except ValueError:
        return address[:64]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def client_key(client: str) -> str:
    """A fixed-length name for ``client`` (stored next to its workspaces)."""
    return hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:32]
