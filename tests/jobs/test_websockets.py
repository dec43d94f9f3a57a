"""Websockets through the real ASGI stack (origin check, session login) and the real channels-redis layer."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import django_rq
import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from jobs.models import Job, JobKind, JobStatus
from jobs.reporter import job_push
from jobs.services import job_start
from tests.services.helpers import camera_photo
from vamsite.asgi import application

REPO = Path(__file__).resolve().parents[2]


def worker_command() -> list[str]:
    """A real forking RQ worker in its own process, as production runs it."""
    return [sys.executable, "manage.py", "rqworker", "default", "--burst", "--worker-class", "jobs.worker.VamWorker"]


def worker_env() -> dict[str, str]:
    """The worker must use the test database this test writes to."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return os.environ | {"DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": "test"}


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def close_thread_connections():
    """The ORM calls of these tests run in asgiref's sync thread: close its connection before the test DB goes."""
    yield
    await sync_to_async(connections.close_all)()


ORIGIN = (b"origin", b"http://127.0.0.1:8301")
HOST = (b"host", b"127.0.0.1:8301")


def session_cookie(username: str, staff: bool = True) -> tuple[bytes, bytes]:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=staff)
    client = Client()
    client.force_login(user)
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def connect(path: str, *headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, *headers])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_anonymous_users_and_foreign_origins_are_refused():
    job = await sync_to_async(Job.objects.create)(kind=JobKind.ANALYZE)
    for path in ("/ws/jobs/", f"/ws/jobs/{job.pk}/"):
        communicator, connected, code = await connect(path)
        assert not connected and code == 4401
    cookie = await sync_to_async(session_cookie)("alice")
    communicator, connected, _ = await connect("/ws/jobs/", cookie)
    assert connected  # the server's own page
    await communicator.disconnect()
    # Another site, another port of the same host (another web app there), another scheme, no Origin at all.
    for origin in (b"http://evil.example", b"http://127.0.0.1:8302", b"ftp://127.0.0.1:8301", b""):
        headers = [(b"origin", origin), HOST, cookie] if origin else [HOST, cookie]
        communicator = WebsocketCommunicator(application, "/ws/jobs/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert not connected, origin


async def test_unknown_and_other_users_jobs_are_not_found():
    owner = await sync_to_async(get_user_model().objects.create_user)("owner", password="pw")
    job = await sync_to_async(Job.objects.create)(kind=JobKind.ANALYZE, created_by=owner)
    cookie = await sync_to_async(session_cookie)("bob", staff=False)
    for path in ("/ws/jobs/00000000-0000-0000-0000-000000000000/", f"/ws/jobs/{job.pk}/"):
        communicator, connected, code = await connect(path, cookie)
        assert not connected and code == 4404


def queued_analyze(tmp_path, photos: int = 3) -> Job:
    """An analyze job of a few photos, alone in the emptied default queue, for a worker subprocess to run."""
    library = tmp_path / "photos"
    for index in range(photos):
        camera_photo(library / f"IMG_{index}.jpg", color=(50 * index, 80, 160))
    django_rq.get_queue("default").empty()
    params = {"catalog_path": str(tmp_path / "catalog"), "source_directories": [str(library)], "workers": 1}
    return job_start(kind=JobKind.ANALYZE, params=params)


async def test_progress_of_a_real_job_arrives_after_the_snapshot(tmp_path):
    queue = django_rq.get_queue("default")
    job = await sync_to_async(queued_analyze)(tmp_path)
    cookie = await sync_to_async(session_cookie)("carol")

    one, connected, _ = await connect(f"/ws/jobs/{job.pk}/", cookie)
    assert connected
    every, connected, _ = await connect("/ws/jobs/", cookie)
    assert connected
    snapshot = await one.receive_json_from(timeout=5)
    assert snapshot["type"] == "job.snapshot" and snapshot["job"]["status"] == JobStatus.PENDING
    listed = await every.receive_json_from(timeout=5)
    assert listed["type"] == "jobs.snapshot" and [j["job_id"] for j in listed["jobs"]] == [str(job.pk)]

    worker = await asyncio.create_subprocess_exec(*worker_command(), env=worker_env(), cwd=REPO)

    events = []
    while not events or events[-1]["status"] not in ("SUCCESS", "FAILURE"):
        message = await one.receive_json_from(timeout=5)
        assert message["type"] == "job.progress"
        events.append(message["job"])
    assert events[-1]["status"] == "SUCCESS" and events[-1]["percent"] == 100.0
    assert {"PROGRESS", "SUCCESS"} <= {e["status"] for e in events}
    assert "analyze" in {e["phase"] for e in events}
    assert set(events[-1]) >= {"job_id", "kind", "status", "phase", "current", "total", "percent", "eta_seconds"}
    assert (await every.receive_json_from(timeout=5))["job"]["job_id"] == str(job.pk)
    assert await asyncio.wait_for(worker.wait(), timeout=60) == 0
    await one.disconnect()
    await every.disconnect()
    await sync_to_async(queue.empty)()


async def test_the_all_jobs_socket_relays_only_the_users_own_jobs_to_non_staff():
    owner = await sync_to_async(get_user_model().objects.create_user)("hal", password="pw")
    cookie = await sync_to_async(session_cookie)("ivy", staff=False)
    ivy = await sync_to_async(get_user_model().objects.get)(username="ivy")
    communicator, connected, _ = await connect("/ws/jobs/", cookie)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["jobs"] == []
    others = await sync_to_async(Job.objects.create)(kind=JobKind.ANALYZE, created_by=owner)
    mine = await sync_to_async(Job.objects.create)(kind=JobKind.THUMBNAILS, created_by=ivy)
    await sync_to_async(job_push)(others)
    await sync_to_async(job_push)(mine)
    message = await communicator.receive_json_from(timeout=5)
    assert message["job"]["job_id"] == str(mine.pk)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
