"""``EMAIL_URL``: how the server sends mail (password reset links), in one variable.

- ``smtp://user:password@host:25``: plain SMTP (a relay on the local network);
- ``smtp+tls://user:password@host:587``: SMTP with STARTTLS, what most mail providers ask for;
- ``smtps://user:password@host:465``: SMTP over TLS from the first byte;
- ``console://``: no sending; each mail is printed in the server's log (to try the reset out).

Unset, the server sends no mail at all, and password reset is not offered. A user name or password with ``@``,
``:`` or ``/`` in it is written percent-encoded (``%40``, ``%3A``, ``%2F``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"
# scheme: (STARTTLS, TLS from the start, default port)
SMTP_SCHEMES = {"smtp": (False, False, 25), "smtp+tls": (True, False, 587), "smtps": (False, True, 465)}


@dataclass(frozen=True)
class Mail:
    configured: bool = False
    backend: str = SMTP
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    starttls: bool = False
    ssl: bool = False


def mail_from_url(url: str) -> Mail:
    """``EMAIL_URL`` as Django's mail settings; an empty one means no mail (Django's defaults, never used)."""
    url = url.strip()
    if not url:
        return Mail()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return Mail(configured=True, backend=CONSOLE)
    if scheme not in SMTP_SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL has an unsupported scheme {parts.scheme!r} (use smtp://, smtp+tls://, smtps:// or console://)"
        )
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL names no mail server (e.g. smtp+tls://user:password@mail.example.com)")
    starttls, ssl, default_port = SMTP_SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ImproperlyConfigured("EMAIL_URL has a port that is not a number") from exc
    return Mail(
        configured=True,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        starttls=starttls,
        ssl=ssl,
    )
