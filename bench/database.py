"""The database a benchmark runs in: its own, on the server of ``DATABASE_URL``, created when missing, so that a
benchmark never touches the database it was pointed at nor the test suite's."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit


def bench_database_url(url: str, suffix: str, program: str) -> str:
    """The URL of the benchmark's own database on the same server: the name with ``suffix`` appended."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit(f"{program} needs a Postgres DATABASE_URL (postgres://...), not {parts.scheme}://")
    name = unquote(parts.path.lstrip("/")) or "vam"
    if not name.endswith(suffix):
        name += suffix
    return urlunsplit(parts._replace(path="/" + quote(name)))


def ensure_database(url: str) -> None:
    """Create the database of ``url`` when it does not exist (connecting to the server's ``postgres`` database)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        try:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:  # another run created it meanwhile
            pass
