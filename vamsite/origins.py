"""Websockets open only from the server's own pages: the same origin (scheme, host and port), or one named in
``CSRF_TRUSTED_ORIGINS`` (a reverse proxy's public address).

Channels' ``AllowedHostsOriginValidator`` compares host names only, so a page served by anything else on another
port of the same host (a second web app on 127.0.0.1:8302) could open the user's job sockets with their cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _origin(scheme: str, netloc: str) -> tuple[str, str, str] | None:
    """(scheme family, host, port) with the default port spelled out; None for what is not an origin."""
    host, port = split_domain_port(netloc)
    if not host or scheme not in DEFAULT_PORTS:
        return None
    secure = scheme in ("https", "wss")
    return ("https" if secure else "http", host, port or DEFAULT_PORTS[scheme])


def origin_allowed(origin: str, host_header: str, scheme: str) -> bool:
    """Whether a websocket handshake with this Origin, on a connection to ``host_header`` over ``scheme``, comes
    from one of the server's own pages."""
    parts = urlsplit(origin)
    theirs = _origin(parts.scheme, parts.netloc.lower())
    if theirs is None:
        return False
    trusted = {_origin(urlsplit(item).scheme, urlsplit(item).netloc.lower()) for item in settings.CSRF_TRUSTED_ORIGINS}
    if theirs in trusted:
        return True
    if not validate_host(theirs[1], settings.ALLOWED_HOSTS):
        return False
    ours = _origin(scheme, host_header.lower())
    if ours is None or ours[1] != theirs[1]:
        return False
    if ours[0] == theirs[0]:
        return ours[2] == theirs[2]
    # Behind a proxy that ends TLS the socket is ws:// while the page was https:// (never the other way round):
    # the host decides, and the port too when the proxy passed one on.
    return theirs[0] == "https" and (not split_domain_port(host_header)[1] or ours[2] == theirs[2])


class SameOriginValidator:
    """ASGI middleware: refuses a websocket whose Origin is not the server's own (see the module docstring)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin1")
        host = headers.get(b"host", b"").decode("latin1")
        if origin and host and origin_allowed(origin, host, scope.get("scheme", "ws")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
