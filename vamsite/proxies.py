"""The client's address and scheme behind a reverse proxy, believed only from the proxies named in
``VAM_TRUSTED_PROXIES``.

A proxy in front of VAM connects from its own address and says who the client was in ``X-Forwarded-For`` and
whether the client used HTTPS in ``X-Forwarded-Proto``. Anyone can send those headers, so they count only when the
connection comes from a trusted proxy: then ``REMOTE_ADDR`` becomes the client's address (what the log-in lockout
counts by), and the scheme is believed through ``SECURE_PROXY_SSL_HEADER``. From anybody else both headers are
dropped before any other code reads them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")


def trusted_networks(items: Iterable[str]) -> list[Network]:
    """``VAM_TRUSTED_PROXIES`` as networks: addresses (``10.0.0.5``, ``::1``) or networks (``172.16.0.0/12``)."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"VAM_TRUSTED_PROXIES: {item!r} is not an address or a network (use e.g. 10.0.0.5 or 172.16.0.0/12)"
            ) from exc
    return networks


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a client or a proxy writes it; None for anything else (a port or brackets are taken off)."""
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 192.0.2.1:51234
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address, networks: list[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def forwarded_client(remote: str, forwarded_for: str, networks: list[Network]) -> str | None:
    """The client behind the trusted proxies: the last address in ``X-Forwarded-For`` that is not one of them.

    Each proxy appends the address it saw, so reading from the right, everything up to the first untrusted entry was
    written by a trusted proxy; what lies left of that entry the client may have made up. None when the
    connection itself did not come from a trusted proxy (then the header is the client's own claim)."""
    address = parse_address(remote)
    if not is_trusted(address, networks):
        return None
    for entry in reversed([item for item in forwarded_for.split(",") if item.strip()]):
        address = parse_address(entry)
        if address is None:  # a proxy passed on something that is not an address: keep the last one we know
            break
        if not is_trusted(address, networks):
            return str(address)
        remote = str(address)
    return str(parse_address(remote) or remote)


class TrustedProxyMiddleware:
    """First of all middleware: the client's real address in ``REMOTE_ADDR`` when a trusted proxy says who it is,
    and no forwarded headers at all from anybody else (so a direct client cannot claim HTTPS or another address)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        client = forwarded_client(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""),
                                  settings.VAM_TRUSTED_PROXIES)  # fmt: skip
        if client is None:
            for header in FORWARDED_HEADERS:
                meta.pop(header, None)
        else:
            meta["REMOTE_ADDR"] = client
        return self.get_response(request)


def client_address(request: HttpRequest) -> str | None:
    """The address the log-in lockout counts failures by (``AXES_CLIENT_IP_CALLABLE``): the connection's, which
    ``TrustedProxyMiddleware`` has already replaced by the client's when a trusted proxy forwarded the request."""
    address = parse_address(request.META.get("REMOTE_ADDR", ""))
    return str(address) if address is not None else None
