"""Password reset as a user meets it: without mail on the server, no reset form anywhere and a page that says
who resets passwords; with mail (EMAIL_URL), the whole round from the log-in page's link to the new password."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings

from tests.services.test_embedded import REPO
from vamsite.mail import mail_from_url

pytestmark = pytest.mark.django_db

RESET_PATHS = ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/MQ/set-password/",
               "/accounts/reset/done/")  # fmt: skip


@pytest.fixture
def ines():
    return get_user_model().objects.create_user("ines", email="ines@example.com", password="correct horse")


def forgot_link(client: Client) -> str:
    page = client.get("/accounts/login/").content.decode()
    link = re.search(r'<a href="([^"]+)">Forgot your password\?</a>', page)
    assert link, page
    return link.group(1)


def test_without_mail_no_reset_form_is_offered_and_the_page_says_who_resets_passwords(ines):
    client = Client()
    for path in RESET_PATHS:
        answer = client.get(path)
        page = answer.content.decode()
        assert answer.status_code == 404, path
        assert "manage.py changepassword USERNAME" in page and "sends no mail" in page, path
        assert "<form" not in page, path

    assert client.post("/accounts/password_reset/", {"email": "ines@example.com"}).status_code == 404
    assert mail.outbox == []

    # The log-in page's link leads to that explanation, as a page that exists.
    forgotten = client.get(forgot_link(client))
    assert forgotten.status_code == 200
    assert "An administrator sets a new password" in forgotten.content.decode()


@override_settings(VAM_PASSWORD_RESET_BY_MAIL=True)
def test_with_mail_the_login_link_leads_to_a_reset_that_sets_a_new_password(ines):
    client = Client()
    link = forgot_link(client)
    assert link == "/accounts/password_reset/"
    form = client.get(link)
    assert form.status_code == 200 and 'name="email"' in form.content.decode()

    sent = client.post(link, {"email": "ines@example.com"}, follow=True)
    assert "Look in your mail" in sent.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ines@example.com"]
    message = mail.outbox[0]
    assert "reset your password" in message.subject and '"ines"' in message.body
    reset_url = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    confirm = client.get(reset_url, follow=True)  # Django moves the token out of the address first
    assert "Set a new password" in confirm.content.decode()
    new_password = {"new_password1": "tide pool 42", "new_password2": "tide pool 42"}
    done = client.post(confirm.redirect_chain[-1][0], new_password, follow=True)
    assert "Your new password is in place" in done.content.decode()
    assert client.post("/accounts/login/", {"username": "ines", "password": "tide pool 42"}).status_code == 302

    used = client.get(reset_url, follow=True)  # the link works once
    assert "This link no longer works" in used.content.decode()

    # No account with that address: the same answer, and no mail (nobody learns who has an account).
    again = client.post(link, {"email": "nobody@example.com"}, follow=True)
    assert "Look in your mail" in again.content.decode() and len(mail.outbox) == 1


@override_settings(VAM_PASSWORD_RESET_BY_MAIL=True)
def test_with_mail_the_forgotten_page_goes_on_to_the_reset_form():
    answer = Client().get("/accounts/password_forgotten/")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/password_reset/"


def test_email_url_gives_the_mail_server_its_user_and_encryption():
    provider = mail_from_url("smtp+tls://vam%40example.com:p%3Ass@mail.example.com")
    assert (provider.host, provider.port, provider.user, provider.password) == (
        "mail.example.com", 587, "vam@example.com", "p:ss")  # fmt: skip
    assert provider.starttls and not provider.ssl and provider.configured
    assert (mail_from_url("smtps://mail.example.com").port, mail_from_url("smtps://mail.example.com").ssl) == (
        465,
        True,
    )
    assert mail_from_url("smtp://relay.lan:2525").port == 2525 and not mail_from_url("smtp://relay.lan").starttls
    assert not mail_from_url("").configured


def test_a_mistyped_email_url_stops_the_server_with_a_plain_message(tmp_path):
    env = os.environ | {"EMAIL_URL": "mailto:admin@example.com", "VAM_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "EMAIL_URL has an unsupported scheme 'mailto' (use smtp://, smtp+tls://, smtps:// or console://)" in (
        result.stderr
    )
