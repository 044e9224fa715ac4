"""Where a webhook may point: the rules (pure) and the one resolution per attempt.

* `https://` only, unless SLACREDITS_WEBHOOK_ALLOW_INSECURE=true (tests, local use), which
  also allows `http://` and loopback or private addresses.
* Link-local and cloud metadata addresses are refused always, whatever the setting.
* Otherwise only globally routable addresses, and IPv6 only inside 2000::/3 (global unicast).
* An IPv4 address carried inside an IPv6 one (IPv4-compatible ::/96, IPv4-mapped ::ffff:0:0/96,
  IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16) is
  taken out and checked as the IPv4 address it reaches.

The name is resolved once per attempt, every address it resolves to is checked, and the
connection goes to the checked address (webhooks/sender.py): a name that resolves to a public
address when registered and to 169.254.169.254 later (DNS rebinding) is refused at that attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from domain.errors import InvalidValueError
from domain.webhook import ascii_host, check_url_form

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# never, whatever the setting: link-local (where clouds put their metadata services) and the
# metadata addresses outside it
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata (169.254.169.254)
        "fe80::/10",  # IPv6 link-local
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "168.63.129.16/32",  # Azure wire server
        "0.0.0.0/8",  # "this network": connects to the local host on Linux
        "::/128",  # unspecified
        "224.0.0.0/4",  # multicast
        "ff00::/8",
        "255.255.255.255/32",
    )
)


GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# IPv6 prefixes whose addresses carry an IPv4 one in their last 32 bits
LAST_32_BITS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "::/96",  # IPv4-compatible (deprecated); :: and ::1 are left as they are
    )
)
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, the RFC 6052 /48 layout
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # the IPv4 address in bits 16-47


def _unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (see the module's docstring), else the address."""
    if not isinstance(address, ipaddress.IPv6Address) or int(address) <= 1:  # :: and ::1 stay IPv6
        return address
    value = int(address)
    if any(address in net for net in LAST_32_BITS):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in NAT64_LOCAL:  # 16 bits at 48-63, then 8 bits (u) at 64-71, then 16 bits at 72-87
        return ipaddress.IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF)
    if address in SIX_TO_FOUR:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
    return address


def address_refusal(address: IPAddress, allow_insecure: bool) -> str | None:
    """Why a webhook may not connect to this address, or None when it may."""
    plain = _unwrapped(address)
    if any(plain in net for net in ALWAYS_REFUSED if net.version == plain.version):
        return f"{address} is a link-local, metadata or non-unicast address"
    if allow_insecure:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST_V6:
        return f"{address} is not a global unicast IPv6 address (2000::/3)"
    if not plain.is_global:
        return (
            f"{address} is a loopback, private or reserved address (SLACREDITS_WEBHOOK_ALLOW_INSECURE=true allows it)"
        )
    return None


@dataclass(frozen=True)
class Target:
    """A URL split for one attempt: where to connect, and what to ask for there."""

    scheme: str
    host: str  # as written in the URL, in its ASCII (IDNA) form (the Host header and the TLS server name)
    port: int
    path: str  # path and query


def check_url(url: str, allow_insecure: bool) -> Target:
    """The URL's form and scheme; an address written in it is checked too (names are checked
    when resolved). Refusals name the field `url`."""
    check_url_form(url)
    parts = urlsplit(url)
    if parts.scheme != "https" and not allow_insecure:
        raise InvalidValueError("url", "must start with https:// (SLACREDITS_WEBHOOK_ALLOW_INSECURE=true allows http)")
    host = ascii_host(parts.hostname or "")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = address_refusal(literal, allow_insecure)
        if reason is not None:
            raise InvalidValueError("url", f"must not point to {reason}")
    elif (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))) and not allow_insecure:
        raise InvalidValueError("url", f"must not point to a local name ({host})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, parts.port or (443 if parts.scheme == "https" else 80), path)


def resolve(target: Target, allow_insecure: bool) -> IPAddress:
    """Resolve the host once and check every address it gives; answers the one to connect to.
    Raises InvalidValueError("url", ...) naming the refused address or the failed lookup."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise InvalidValueError("url", f"the host {target.host!r} does not resolve ({e})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise InvalidValueError("url", f"the host {target.host!r} does not resolve")
    for address in addresses:
        reason = address_refusal(address, allow_insecure)
        if reason is not None:
            raise InvalidValueError("url", f"{target.host!r} resolves to {reason}")
    return addresses[0]
