"""Webhooks and mail when a job ends (``jobs.notify``): a real HTTP receiver gets signed POSTs from real workers,
with retries after a 500; refusals, pausing and the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.test import override_settings

from jobs import notify
from jobs.models import DeliveryStatus, Job, JobKind, JobStatus, Webhook, WebhookDelivery
from jobs.services import job_cancel, job_start
from tests.jobs.workers import wait_until, worker_command


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the codes it is given, in turn (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.posts: list[tuple[Message, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.headers, body))  # names in any case, as HTTP has them
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def documents(self) -> list[dict]:
        return [json.loads(body) for _, body in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(answers: list[int] | None = None) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for server in made:
        server.close()


def signed_by(secret: str, headers: Message, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[notify.SIGNATURE_HEADER], expected)


@pytest.mark.django_db(transaction=True)
def test_finished_failed_and_cancelled_jobs_each_post_a_signed_document(tmp_path, queue, spawn, receiver, admin_user):
    server = receiver([500])  # the first POST fails: it is sent again after the back-off
    hook = Webhook.objects.create(owner=admin_user, url=server.url, allow_loopback=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    params = {"catalog_path": str(tmp_path / "catalog"), "source_directories": [str(photos)]}
    finished = job_start(kind=JobKind.ANALYZE, params=params, user=admin_user)
    failed = job_start(kind=JobKind.DUPLICATES, params={"catalog_path": str(tmp_path / "nowhere")}, user=admin_user)
    cancelled = job_start(kind=JobKind.ANALYZE, params=params, user=admin_user)
    job_cancel(job=cancelled)  # before any worker took it
    worker = spawn(worker_command("default"), env={"VAM_WEBHOOK_BACKOFF": "1"})  # it runs on: retries included

    wait_until(lambda: len(server.posts) >= 4, "three jobs told, one of them twice", worker)
    statuses = {Job.objects.get(pk=job.pk).status for job in (finished, failed, cancelled)}
    assert statuses == {JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED}
    for headers, body in server.posts:
        assert signed_by(hook.secret, headers, body)
        assert headers["Content-Type"] == "application/json" and headers["X-VAM-Event"] == "job.finished"
    told = {document["job_id"]: document for document in server.documents()}
    assert set(told) == {str(finished.pk), str(failed.pk), str(cancelled.pk)}
    assert told[str(finished.pk)]["status"] == "SUCCESS" and told[str(finished.pk)]["kind"] == "analyze"
    assert told[str(finished.pk)]["figures"]["new"] == 0 and told[str(finished.pk)]["finished_at"]
    assert told[str(failed.pk)]["status"] == "FAILURE" and "no catalog at" in told[str(failed.pk)]["error"]
    assert told[str(cancelled.pk)]["status"] == "CANCELLED"
    assert told[str(finished.pk)]["url"] == f"/jobs/{finished.pk}/"
    deliveries = WebhookDelivery.objects.filter(webhook=hook)
    wait_until(lambda: all(d.status == DeliveryStatus.DELIVERED for d in deliveries.all()), "every delivery")
    assert sorted(d.attempts for d in deliveries) == [1, 1, 2]
    retried = deliveries.get(attempts=2)
    assert retried.response_code == 200 and retried.delivered_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/hook", "only http:// and https://"),
        ("http://localhost:8000/hook", "localhost is this server itself"),
        ("http://127.0.0.1/hook", "this server's own address (127.0.0.1)"),
        ("http://[::1]:9/hook", "this server's own address (::1)"),
        ("http://0.0.0.0/hook", "this server's own address (0.0.0.0)"),
    ],
)
def test_urls_that_are_not_http_or_point_at_this_server_are_refused(url, says):
    with pytest.raises(notify.UrlRefused, match=says.replace("(", r"\(").replace(")", r"\)")):
        notify.check_url(url)
    if url.startswith("http"):
        notify.check_url(url, allow_loopback=True)  # staff may allow it for one hook


def deliver_now(job: Job) -> None:
    notify.job_ended(job.pk)
    notify.deliver_due()


@pytest.mark.django_db
def test_a_refused_post_is_not_retried_and_a_hook_that_keeps_failing_is_paused(receiver, admin_user, queue):
    server = receiver([404] * notify.PAUSE_AFTER_FAILURES)
    hook = Webhook.objects.create(owner=admin_user, url=server.url, allow_loopback=True)
    jobs = [
        Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS, created_by=admin_user)
        for _ in range(notify.PAUSE_AFTER_FAILURES + 1)
    ]
    for job in jobs[:-1]:
        deliver_now(job)
    failed = WebhookDelivery.objects.filter(webhook=hook)
    assert [(d.status, d.attempts, d.response_code) for d in failed] == [
        (DeliveryStatus.FAILED, 1, 404)
    ] * notify.PAUSE_AFTER_FAILURES
    assert "404" in failed[0].last_error
    hook.refresh_from_db()
    assert hook.paused_at is not None and hook.failures == notify.PAUSE_AFTER_FAILURES

    deliver_now(jobs[-1])  # a paused hook hears nothing more
    assert len(server.posts) == notify.PAUSE_AFTER_FAILURES and failed.count() == notify.PAUSE_AFTER_FAILURES
    notify.resume(hook)
    deliver_now(jobs[-1])
    assert len(server.posts) == notify.PAUSE_AFTER_FAILURES + 1
    hook.refresh_from_db()
    assert hook.paused_at is None and hook.failures == 0


@pytest.mark.django_db
def test_a_receiver_that_cannot_be_reached_is_retried_then_given_up(admin_user, queue):
    hook = Webhook.objects.create(owner=admin_user, url="http://127.0.0.1:9/hook", allow_loopback=True)  # discard
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.FAILURE, created_by=admin_user)
    with override_settings(VAM_WEBHOOK_BACKOFF=[0, 0]):
        deliver_now(job)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 3, None)
    assert delivery.last_error.startswith("cannot reach the receiver")


@pytest.mark.django_db
def test_hooks_hear_their_owners_jobs_and_staff_hooks_hear_every_job(receiver, admin_user, django_user_model, queue):
    server = receiver()
    alice = django_user_model.objects.create_user("alice", password="x")
    bob = django_user_model.objects.create_user("bob", password="x")
    Webhook.objects.create(owner=alice, url=server.url + "/alice", allow_loopback=True)
    Webhook.objects.create(owner=admin_user, url=server.url + "/all", all_jobs=True, allow_loopback=True)
    Webhook.objects.create(owner=bob, url=server.url + "/bob-all", all_jobs=True, allow_loopback=True)  # not staff
    deliver_now(Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS, created_by=alice))
    deliver_now(Job.objects.create(kind=JobKind.ORGANIZE, status=JobStatus.SUCCESS))  # from the command line
    heard = sorted((d.payload["kind"], d.webhook.url.rsplit("/", 1)[1]) for d in WebhookDelivery.objects.all())
    assert heard == [("analyze", "alice"), ("analyze", "all"), ("organize", "all")]
    assert len(server.posts) == 3


@pytest.mark.django_db
@override_settings(VAM_JOB_MAIL=True, VAM_BASE_URL="https://vam.example.com")
def test_the_jobs_user_gets_a_mail_when_it_ends(django_user_model, queue):
    user = django_user_model.objects.create_user("carol", email="carol@example.com", password="x")
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS, created_by=user,
                             result={"new": 12, "changed": 1, "catalog": "/x"})  # fmt: skip
    notify.job_ended(job.pk)
    notify.send(str(job.pk))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["carol@example.com"] and message.subject == "VAM: Analyze finished"
    assert "new: 12" in message.body and f"https://vam.example.com/jobs/{job.pk}/" in message.body


@pytest.mark.django_db
def test_no_mail_without_mail_settings(django_user_model, queue):
    user = django_user_model.objects.create_user("dave", email="dave@example.com", password="x")
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS, created_by=user)
    notify.job_ended(job.pk)
    notify.send(str(job.pk))
    assert mail.outbox == [] and queue.count == 0  # nothing to send: nothing queued either


# The API ---------------------------------------------------------------------------------------------------------


def post(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_users_register_list_and_remove_their_own_hooks(client, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="x")
    client.force_login(alice)
    made = post(client, "/api/webhooks", {"url": "https://hooks.example.com/vam"})
    assert made.status_code == 201, made.content
    hook = made.json()
    assert hook["url"] == "https://hooks.example.com/vam" and len(hook["secret"]) == 64 and hook["active"]
    assert [h["id"] for h in client.get("/api/webhooks").json()] == [hook["id"]]
    assert client.get(f"/api/webhooks/{hook['id']}/deliveries").json() == []

    for body, field, says in [
        ({"url": "http://127.0.0.1:8000/x"}, "url", "this server's own address"),
        ({"url": "gopher://example.com/"}, "url", ""),
        ({"url": "https://example.com/", "all_jobs": True}, "all_jobs", "only staff"),
        ({"url": "http://localhost/", "allow_loopback": True}, "allow_loopback", "only staff"),
    ]:
        refused = post(client, "/api/webhooks", body)
        assert refused.status_code == 400 and says in json.dumps(refused.json()), refused.content
        assert field in json.dumps(refused.json())

    bob = django_user_model.objects.create_user("bob", password="x")
    client.force_login(bob)
    assert client.get(f"/api/webhooks/{hook['id']}").status_code == 404  # not his
    assert client.delete(f"/api/webhooks/{hook['id']}").status_code == 404
    client.force_login(alice)
    assert client.delete(f"/api/webhooks/{hook['id']}").status_code == 204
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_staff_may_hear_every_job_and_resume_a_paused_hook(admin_client, admin_user):
    made = post(admin_client, "/api/webhooks", {"url": "http://127.0.0.1:9/x", "allow_loopback": True,
                                                "all_jobs": True})  # fmt: skip
    assert made.status_code == 201, made.content
    hook = Webhook.objects.get(pk=made.json()["id"])
    Webhook.objects.filter(pk=hook.pk).update(paused_at="2026-01-01T00:00:00Z", failures=5)
    resumed = admin_client.post(f"/api/webhooks/{hook.pk}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused_at"] is None and resumed.json()["failures"] == 0


def test_the_webhook_api_needs_a_login(client):
    for method, path in [("get", "/api/webhooks"), ("post", "/api/webhooks"), ("get", "/api/webhooks/1"),
                         ("delete", "/api/webhooks/1"), ("get", "/api/webhooks/1/deliveries")]:  # fmt: skip
        assert getattr(client, method)(path, HTTP_ACCEPT="application/json").status_code == 401, path
