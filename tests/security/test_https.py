"""HTTPS and the reverse proxy, against a real daphne server: with VAM_HTTPS=1 behind a trusted proxy, pages carry
HSTS, cookies are Secure, HttpOnly and SameSite, and plain http is redirected; a client that is not the proxy
cannot claim HTTPS; and plain http on localhost (`make run`) logs in as before, without Secure cookies."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model

from tests.jobs.test_browser import free_port
from tests.jobs.test_websockets import REPO, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def serve(tmp_path):
    """Start daphne on the test database with extra environment; yields a function returning its port."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> int:
        port = free_port()
        environment = worker_env() | {"REDIS_URL": "", "VAM_ALLOWED_HOSTS": "127.0.0.1",
                                      "VAM_DATA_DIR": str(tmp_path / "data")} | env  # fmt: skip
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vamsite.asgi:application"]
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "daphne died"
            assert time.monotonic() < deadline, "daphne did not listen"
            time.sleep(0.2)

    yield start
    for process in started:
        process.kill()
        process.wait()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def cookies(response) -> dict[str, str]:
    """Each cookie set, with its flags as the header spells them (``csrftoken=…; Secure; SameSite=Lax``)."""
    return {header.split("=", 1)[0]: header for header in response.msg.get_all("Set-Cookie") or []}


def log_in(port: int, headers: dict[str, str]):
    form = request(port, "GET", "/accounts/login/", headers)
    csrf = SimpleCookie(cookies(form)["csrftoken"])["csrftoken"].value
    body = urlencode({"username": "ines", "password": "correct horse", "csrfmiddlewaretoken": csrf})
    return request(port, "POST", "/accounts/login/", headers | {
        "Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded"}, body)  # fmt: skip


def test_https_behind_a_trusted_proxy_has_hsts_secure_cookies_and_redirects_plain_http(serve):
    get_user_model().objects.create_user("ines", password="correct horse")
    port = serve(VAM_HTTPS="1", VAM_TRUSTED_PROXIES="127.0.0.1")
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5", "Origin": f"https://127.0.0.1:{port}"}

    page = request(port, "GET", "/accounts/login/", proxied)
    assert page.status == 200
    assert page.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    assert re.search(r"; Secure\b", cookies(page)["csrftoken"]) and "SameSite=Lax" in cookies(page)["csrftoken"]

    logged_in = log_in(port, proxied)
    assert logged_in.status == 302
    session = cookies(logged_in)["sessionid"]
    assert all(flag in session for flag in ("; Secure", "; HttpOnly", "; SameSite=Lax")), session

    plain = request(port, "GET", "/accounts/login/", {"X-Forwarded-For": "203.0.113.5"})  # the proxy saw http
    assert plain.status == 301 and plain.getheader("Location") == f"https://127.0.0.1:{port}/accounts/login/"


def test_a_client_that_is_not_the_trusted_proxy_cannot_claim_https(serve):
    port = serve(VAM_HTTPS="1", VAM_TRUSTED_PROXIES="192.0.2.1")  # the proxy is elsewhere: we connect directly
    answer = request(port, "GET", "/accounts/login/", {"X-Forwarded-Proto": "https"})
    assert answer.status == 301 and answer.getheader("Location").startswith("https://")
    assert answer.getheader("Strict-Transport-Security") is None


def test_plain_http_on_localhost_logs_in_without_secure_cookies_like_make_run(serve):
    get_user_model().objects.create_user("ines", password="correct horse")
    port = serve()
    page = request(port, "GET", "/accounts/login/", {"X-Forwarded-Proto": "https"})  # no proxy is trusted: ignored
    assert page.status == 200 and page.getheader("Strict-Transport-Security") is None

    logged_in = log_in(port, {})
    assert logged_in.status == 302
    session = cookies(logged_in)["sessionid"]
    assert "; Secure" not in session and "; HttpOnly" in session and "; SameSite=Lax" in session
    value = SimpleCookie(session)["sessionid"].value
    home = request(port, "GET", "/catalogs/", {"Cookie": f"sessionid={value}"})
    assert home.status == 200  # logged in over plain http
