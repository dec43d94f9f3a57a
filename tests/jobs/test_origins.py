"""Which pages may open the job websockets: the server's own origin (scheme, host and port), or a trusted one."""

from __future__ import annotations

import pytest

from vamsite.origins import origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://127.0.0.1:8301", "127.0.0.1:8301", "ws", True),
        ("http://localhost", "localhost:80", "ws", True),  # the default port, written or not
        ("http://127.0.0.1:8302", "127.0.0.1:8301", "ws", False),  # another app on another port
        ("http://evil.example:8301", "127.0.0.1:8301", "ws", False),
        ("https://127.0.0.1:443", "127.0.0.1", "ws", True),  # TLS ended by a proxy in front: the host decides
        ("http://127.0.0.1", "127.0.0.1", "wss", False),  # a plain page may not talk to the secure socket
        ("https://vam.example.com", "127.0.0.1:8000", "ws", True),  # the proxy's public address, trusted
        ("https://other.example.com", "127.0.0.1:8000", "ws", False),
        ("null", "127.0.0.1:8301", "ws", False),  # a sandboxed frame or a file
        ("javascript://127.0.0.1:8301", "127.0.0.1:8301", "ws", False),
    ],
)
def test_only_the_servers_own_pages_open_a_websocket(settings, origin, host, scheme, allowed):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://vam.example.com"]
    assert origin_allowed(origin, host, scheme) is allowed
