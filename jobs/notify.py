"""Telling people that a job ended: signed webhook POSTs with retries, and a mail to the job's user.

``job_ended`` runs once per job, right after the job's final status is committed (``jobs.state.job_finish``). It
records one ``WebhookDelivery`` per hook that hears about the job (its owner's hooks; a staff member's hooks for
every job) and hands the sending to the background: an RQ job on ``default`` with Redis, a thread of this
process in the embedded default. Nothing is sent from the job's own code path, so a slow receiver never holds
a job or a worker up.

A delivery is a POST of a small JSON document (``payload``) signed with an HMAC-SHA256 of its body under the
hook's secret, in ``X-VAM-Signature-256: sha256=<hex>`` (the receiver computes the same and compares). A 2xx
answer delivers it. A 5xx, 408 or 429 answer, a timeout or a refused connection is retried after 10 s, 1 min,
5 min, 30 min and 2 h (``VAM_WEBHOOK_BACKOFF``); any other answer (a 404, a redirect) fails it at once. A hook
whose deliveries failed ``PAUSE_AFTER_FAILURES`` times in a row is paused, not retried forever. The URL is
checked again at each attempt (its name may resolve elsewhere by then): http(s) only, and never this server's
loopback addresses unless staff allowed them for that hook. Redirects are not followed, so a receiver cannot
send the POST anywhere else.

Retries are picked up by every RQ worker's maintenance pass (``jobs.worker``, every few seconds) and, in the
embedded default, by a timer of this process.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import DeliveryStatus, Job, JobStatus, Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

EVENT = "job.finished"
SIGNATURE_HEADER = "X-VAM-Signature-256"
TIMEOUT_SECONDS = 10
PAUSE_AFTER_FAILURES = 5
LEASE = timedelta(seconds=3 * TIMEOUT_SECONDS)  # a delivery being sent is nobody else's this long
RETRYABLE_CODES = {408, 429}


class UrlRefused(ValueError):
    """A webhook URL VAM does not post to; the message says why, in words for the form or the API."""


def check_url(url: str, allow_loopback: bool = False, *, resolve: bool = True) -> None:
    """Refuse what is not http(s), and (unless ``allow_loopback``) a host that is one of this server's loopback
    or unspecified addresses: by name (``localhost``), as a literal address, or (``resolve``) by what its name
    resolves to now. The forms check without resolving; every delivery resolves."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http:// and https:// addresses can be used")
    host = parts.hostname
    if not host:
        raise UrlRefused("the address names no host")
    if allow_loopback:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise UrlRefused(f"{host} is this server itself; only staff can allow that")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolved(host, parts.port) if resolve else []
    for ip in addresses:
        if ip.is_loopback or ip.is_unspecified:
            raise UrlRefused(f"{host} is this server's own address ({ip}); only staff can allow that")


def _resolved(host: str, port: int | None) -> list:
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"the host {host} cannot be found ({exc})") from None
    return [ipaddress.ip_address(str(address[0]).split("%")[0]) for *_, address in found]


def payload(job: Job) -> dict[str, Any]:
    """The document a hook receives: what ended, how, when, with the result's figures and the job's page."""
    catalog = job.catalog
    result = job.result if isinstance(job.result, dict) else {}
    figures = {key: value for key, value in result.items() if isinstance(value, (int, float)) and key != "catalog"}
    page = reverse("jobs:detail", args=[job.pk])
    return {
        "event": EVENT,
        "job_id": str(job.pk),
        "kind": job.kind,
        "status": job.status,
        "catalog": None if catalog is None else {"id": catalog.pk, "name": catalog.name, "path": catalog.path},
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "figures": figures,
        "url": f"{settings.VAM_BASE_URL}{page}" if settings.VAM_BASE_URL else page,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hooks_for(job: Job):
    """The hooks that hear about ``job``: its user's, and staff members' hooks for every job."""
    hears = Q(all_jobs=True, owner__is_staff=True)
    if job.created_by_id is not None:
        hears |= Q(owner_id=job.created_by_id)
    return Webhook.objects.filter(hears, active=True, paused_at__isnull=True)


def job_ended(job_id) -> None:
    """Record the deliveries for a job that has just ended, and start sending them (and the mail)."""
    job = Job.objects.select_related("catalog", "created_by").filter(pk=job_id).first()
    if job is None:
        return
    hooks = list(hooks_for(job))
    mail = _mail_to(job)
    if not hooks and not mail:
        return
    document = payload(job)
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, job=job, payload=document, next_attempt_at=now) for hook in hooks
    )
    _background(send, str(job.pk) if mail else None)


def _mail_to(job: Job) -> str:
    user = job.created_by
    return user.email if settings.VAM_JOB_MAIL and user is not None and user.email else ""


def send(job_id: str | None = None) -> int:
    """The background half: the job's mail (when it has one), then every delivery that is due."""
    if job_id is not None:
        _send_mail(job_id)
    return deliver_due()


def _send_mail(job_id: str) -> None:
    job = Job.objects.select_related("catalog", "created_by").filter(pk=job_id).first()
    if job is None or not (to := _mail_to(job)):
        return
    document = payload(job)
    words: dict[str, str] = {
        JobStatus.SUCCESS: "finished", JobStatus.FAILURE: "failed", JobStatus.CANCELLED: "was cancelled",
    }  # fmt: skip
    what = f"{job.get_kind_display()} of {job.catalog.name}" if job.catalog else job.get_kind_display()
    lines = [f"{what} {words.get(job.status, job.status.lower())}.", ""]
    lines += [f"{key.replace('_', ' ')}: {value}" for key, value in document["figures"].items()]
    lines += [f"error: {job.error}"] if job.error and job.status != JobStatus.SUCCESS else []
    lines += ["", f"The job: {document['url']}"]
    try:
        send_mail(f"VAM: {what} {words.get(job.status, '')}".strip(), "\n".join(lines), None, [to])
    except Exception:  # the mail server's trouble must not cost the webhooks
        logger.exception("cannot send the end-of-job mail for job %s to %s", job.pk, to)


def deliver_due(limit: int = 20) -> int:
    """Send up to ``limit`` deliveries whose attempt is due; returns how many were attempted."""
    done = 0
    while done < limit and (delivery := _claim_due()) is not None:
        attempt(delivery)
        done += 1
    return done


def _claim_due() -> WebhookDelivery | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("webhook")
            .filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["next_attempt_at"])
    return delivery


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx comes back as an HTTPError: a refusal, not a new address to post to


_opener = urllib.request.build_opener(_NoRedirects)


def attempt(delivery: WebhookDelivery) -> None:
    """One POST of a claimed delivery, and what it means for the delivery and its hook."""
    hook = delivery.webhook
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    code: int | None = None
    error = ""
    try:
        check_url(hook.url, hook.allow_loopback)
        request = urllib.request.Request(hook.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "VAM-Webhook/1", "X-VAM-Event": EVENT,
            "X-VAM-Delivery": str(delivery.pk), SIGNATURE_HEADER: signature(hook.secret, body),
        })  # fmt: skip
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            code = response.status
    except UrlRefused as exc:
        _record(delivery, None, str(exc), retry=False)
        return
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"the receiver answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"cannot reach the receiver: {reason}"
    if code is not None and 200 <= code < 300:
        _record(delivery, code, "", retry=False, delivered=True)
        return
    retry = code is None or code >= 500 or code in RETRYABLE_CODES
    _record(delivery, code, error or f"the receiver answered {code}", retry=retry)


def _record(delivery: WebhookDelivery, code: int | None, error: str, *, retry: bool, delivered: bool = False):
    now = timezone.now()
    delivery.attempts += 1
    delivery.response_code, delivery.last_error = code, error[:2000]
    hook = delivery.webhook
    if delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        Webhook.objects.filter(pk=hook.pk).update(failures=0)
    elif retry and delivery.attempts <= len(settings.VAM_WEBHOOK_BACKOFF):
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=settings.VAM_WEBHOOK_BACKOFF[delivery.attempts - 1])
        _retry_later(delivery.next_attempt_at - now)
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        _failed(hook, now)
    delivery.save(update_fields=["attempts", "response_code", "last_error", "status", "next_attempt_at",
                                 "delivered_at"])  # fmt: skip


def _failed(hook: Webhook, now) -> None:
    """One more delivery of this hook failed for good: pause the hook when too many failed in a row."""
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().get(pk=hook.pk)
        hook.failures += 1
        if hook.failures >= PAUSE_AFTER_FAILURES and hook.paused_at is None:
            hook.paused_at = now
            logger.warning("webhook %s paused after %d failed deliveries in a row", hook.url, hook.failures)
        hook.save(update_fields=["failures", "paused_at"])


def resume(hook: Webhook) -> None:
    """Take a paused hook back into service (its failures are forgiven; what it missed is not sent again)."""
    Webhook.objects.filter(pk=hook.pk).update(paused_at=None, failures=0)


# Where the sending runs ------------------------------------------------------------------------------------------

_threads: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _background(function, *args) -> None:
    """Run ``function`` off the job's path: an RQ job on ``default``, or a thread of this process."""
    if settings.REDIS_URL:
        import django_rq

        django_rq.get_queue("default").enqueue(
            f"{__name__}.{function.__name__}", *args, result_ttl=600, failure_ttl=24 * 3600
        )
        return
    global _threads
    with _lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(1, thread_name_prefix="vam-notify")
    _threads.submit(_in_thread, function, *args)


def _in_thread(function, *args) -> None:
    try:
        function(*args)
    except Exception:
        logger.exception("sending job notifications failed")
    finally:
        connection.close()


def _retry_later(delay: timedelta) -> None:
    """In the embedded default, come back for the retry when it is due (RQ workers find it themselves)."""
    if settings.REDIS_URL:
        return
    timer = threading.Timer(delay.total_seconds(), _background, (deliver_due,))
    timer.daemon = True
    timer.start()
