"""Log-in lockout as an attacker and a user meet it: wrong passwords on the log-in page and the admin's, wrong API
tokens, the page and the JSON that say when to try again, and an administrator lifting it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from tests.services.test_embedded import REPO
from vamsite.proxies import trusted_networks

pytestmark = pytest.mark.django_db

LIMIT = 5  # VAM_LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def ines():
    return get_user_model().objects.create_user("ines", password="correct horse", is_staff=True, is_superuser=True)


def log_in(client: Client, password: str, path: str = "/accounts/login/", username: str = "ines", **headers):
    return client.post(path, {"username": username, "password": password}, **headers)


def test_five_wrong_passwords_lock_the_name_out_of_the_login_page_with_the_wait_in_words(ines):
    client = Client()
    for _ in range(LIMIT - 1):
        answer = log_in(client, "wrong")
        assert answer.status_code == 200 and "did not match" in answer.content.decode()

    locked = log_in(client, "wrong")
    page = locked.content.decode()
    assert locked.status_code == 429
    assert "Too many wrong passwords" in page and "Try again in 15 minutes" in page
    assert "manage.py axes_reset" in page and "Traceback" not in page
    assert int(locked["Retry-After"]) == 15 * 60

    refused = log_in(client, "correct horse")  # the right password does not help while locked
    assert refused.status_code == 429 and "_auth_user_id" not in client.session

    # The lockout is for this name from this address: another user at the same address logs in.
    get_user_model().objects.create_user("olga", password="battery staple")
    assert log_in(Client(), "battery staple", username="olga").status_code == 302


def test_a_right_password_clears_the_wrong_ones_before_it(ines):
    client = Client()
    for _ in range(LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, "correct horse").status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200  # counting starts again from nothing


def test_the_lockout_ends_after_its_minutes_and_axes_reset_ends_it_at_once(ines):
    client = Client()
    for _ in range(LIMIT):
        log_in(client, "wrong")
    assert log_in(client, "correct horse").status_code == 429

    # 10 minutes later (the failures' time moved back) 5 are left, and trying again does not add to them.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=10))
    for password in ("wrong", "correct horse", "wrong"):
        assert "Try again in 5 minutes" in log_in(client, password).content.decode()
    # 16 minutes after the last wrong password: the right one logs in.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=6))
    assert log_in(client, "correct horse").status_code == 302

    client.post("/accounts/logout/")
    for _ in range(LIMIT):
        log_in(client, "wrong")
    assert log_in(client, "correct horse").status_code == 429
    said = StringIO()
    call_command("axes_reset", stdout=said)  # what an administrator types
    assert "attempts removed" in said.getvalue()
    assert log_in(client, "correct horse").status_code == 302


def test_the_admin_login_locks_out_the_same_way(ines):
    client = Client()
    for _ in range(LIMIT - 1):
        assert log_in(client, "wrong", path="/admin/login/").status_code == 200
    locked = log_in(client, "wrong", path="/admin/login/?next=/admin/")
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.content.decode()
    assert log_in(client, "correct horse", path="/admin/login/?next=/admin/").status_code == 429
    # Wrong passwords count alike on both pages: the log-in page refuses the name too.
    assert log_in(client, "correct horse").status_code == 429


def test_wrong_tokens_from_one_address_are_refused_with_429_and_retry_after(ines):
    token = Token.objects.create(user=ines).key
    client = Client()
    for attempt in range(LIMIT - 1):
        answer = client.get("/api/jobs", HTTP_AUTHORIZATION=f"Token {attempt:040x}")
        assert answer.status_code == 401 and answer.json() == {"error": "Invalid token."}

    locked = client.get("/api/jobs", HTTP_AUTHORIZATION="Token " + "f" * 40)
    assert locked.status_code == 429 and locked["Content-Type"] == "application/json"
    assert locked.json()["error"].startswith("too many wrong tokens from this address")
    assert "15 minutes" in locked.json()["error"]
    assert int(locked["Retry-After"]) == 15 * 60

    # While locked, the right token gets no answer either (guessing learns nothing), with the same error.
    refused = client.get("/api/jobs", HTTP_AUTHORIZATION=f"Token {token}")
    assert refused.status_code == 429 and "too many wrong tokens" in refused.json()["error"]
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60

    # Another address with the right token, and the same address with a session, are served.
    assert Client(REMOTE_ADDR="192.0.2.7").get("/api/jobs", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    session = Client()
    session.force_login(ines)
    assert session.get("/api/jobs").status_code == 200
    # Wrong tokens lock out tokens only: ines still logs in with her password from that address.
    assert log_in(Client(), "correct horse").status_code == 302

    call_command("axes_reset", stdout=StringIO())
    assert client.get("/api/jobs", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200


@pytest.mark.django_db(transaction=True)  # the stream's view closes its thread's connection
def test_wrong_tokens_on_the_event_stream_count_toward_the_same_lockout():
    client = Client()
    stream = "/api/jobs/6850b44b-74c9-4c06-974c-368ff9071893/stream"
    for attempt in range(LIMIT - 1):
        path = stream if attempt % 2 else "/api/jobs"
        assert client.get(path, HTTP_AUTHORIZATION=f"Token {attempt:040x}").status_code == 401
    locked = client.get(stream, HTTP_AUTHORIZATION="Token " + "d" * 40)
    assert locked.status_code == 429 and "too many wrong tokens" in locked.json()["error"]
    assert client.get(stream, HTTP_AUTHORIZATION="Token " + "c" * 40).status_code == 429


def test_a_made_up_forwarded_for_does_not_dodge_the_lockout():
    """Without VAM_TRUSTED_PROXIES, X-Forwarded-For is the client's own claim and changes nothing."""
    client = Client()
    for attempt in range(LIMIT):
        client.get(
            "/api/jobs", HTTP_AUTHORIZATION=f"Token {attempt:040x}", HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}"
        )
    answer = client.get("/api/jobs", HTTP_AUTHORIZATION="Token " + "e" * 40, HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert answer.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


@override_settings(VAM_TRUSTED_PROXIES=trusted_networks(["127.0.0.1"]))
def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(ines):
    """Every request comes from the proxy (127.0.0.1); the lockout counts by the client it names."""
    attacker = Client(HTTP_X_FORWARDED_FOR="203.0.113.66")
    for _ in range(LIMIT):
        log_in(attacker, "wrong")
    assert log_in(attacker, "correct horse").status_code == 429
    # A client that claims another address in front of the proxy's own entry is still the attacker.
    spoofing = Client(HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.66")
    assert log_in(spoofing, "correct horse").status_code == 429
    # The real user, at another address behind the same proxy, logs in.
    assert log_in(Client(HTTP_X_FORWARDED_FOR="192.0.2.44"), "correct horse").status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}


@pytest.mark.embedded
def test_the_lockout_works_on_the_embedded_sqlite_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env["VAM_DATA_DIR"] = str(tmp_path / "data")

    def manage(*args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=180)  # fmt: skip
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    manage("migrate", "--noinput", "-v0")
    statuses = manage("shell", "-v", "0", "-c", EMBEDDED_LOGINS)
    assert (tmp_path / "data" / "vam.sqlite3").is_file()
    assert statuses.split() == ["200"] * 4 + ["429", "429"] + ["401"] * 4 + ["429", "302"]


EMBEDDED_LOGINS = """
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from io import StringIO
get_user_model().objects.create_user("ines", password="correct horse")
client = Client(HTTP_HOST="localhost")
post = lambda password: client.post("/accounts/login/", {"username": "ines", "password": password}).status_code
for password in ["wrong"] * 5 + ["correct horse"]:
    print(post(password))
for attempt in range(5):
    print(client.get("/api/jobs", HTTP_AUTHORIZATION=f"Token {attempt:040x}").status_code)
call_command("axes_reset", stdout=StringIO())
print(post("correct horse"))
"""
