"""Server-Sent Events stream a real job, run by a real worker process, to its end."""

from __future__ import annotations

import asyncio
import json

import django_rq
import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import AsyncClient

from jobs.models import Job, JobKind
from tests.jobs.test_websockets import REPO, queued_analyze, worker_command, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def close_thread_connections():
    """The ORM calls of these tests run in asgiref's sync thread: close its connection before the test DB goes."""
    yield
    await sync_to_async(connections.close_all)()


async def logged_in_client(username: str = "erin", staff: bool = True) -> AsyncClient:
    user = await sync_to_async(get_user_model().objects.create_user)(username, password="pw", is_staff=staff)
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def parse(chunks: list[str]) -> list[dict]:
    events = []
    for block in "".join(chunks).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines.get("event") == "progress":
            events.append(json.loads(lines["data"]))
    return events


async def test_stream_follows_a_job_to_success_and_closes(tmp_path):
    queue = django_rq.get_queue("default")
    job = await sync_to_async(queued_analyze)(tmp_path)
    client = await logged_in_client()

    response = await client.get(f"/api/jobs/{job.pk}/stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    worker = await asyncio.create_subprocess_exec(*worker_command(), env=worker_env(), cwd=REPO)
    chunks = []

    async def read() -> None:
        async for chunk in response.streaming_content:
            chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    await asyncio.wait_for(read(), timeout=60)  # ends by itself: the stream closes at the final state
    assert await asyncio.wait_for(worker.wait(), timeout=60) == 0

    events = parse(chunks)
    assert events[0]["status"] == "PENDING" and events[-1]["status"] == "SUCCESS"
    assert all(a != b for a, b in zip(events, events[1:], strict=False))  # one event per change
    assert "analyze" in {event["phase"] for event in events}
    await sync_to_async(queue.empty)()


async def test_stream_of_a_finished_job_sends_one_event(tmp_path):
    job = await sync_to_async(Job.objects.create)(kind=JobKind.ANALYZE, status="FAILURE", error="boom")
    client = await logged_in_client()
    response = await client.get(f"/api/jobs/{job.pk}/stream")
    chunks = [chunk.decode() async for chunk in response.streaming_content]
    events = parse(chunks)
    assert [e["status"] for e in events] == ["FAILURE"] and events[0]["error"] == "boom"


async def test_stream_needs_a_login_and_a_visible_job():
    owner = await sync_to_async(get_user_model().objects.create_user)("owner", password="pw")
    job = await sync_to_async(Job.objects.create)(kind=JobKind.ANALYZE, created_by=owner)
    anonymous = await AsyncClient().get(f"/api/jobs/{job.pk}/stream")
    assert anonymous.status_code == 401
    other = await logged_in_client("frank", staff=False)
    for path in (f"/api/jobs/{job.pk}/stream", "/api/jobs/nope/stream"):
        response = await other.get(path)
        assert response.status_code == 404 and "no job" in json.loads(response.content)["error"]


async def test_stream_takes_the_api_token_and_refuses_a_wrong_one():
    from rest_framework.authtoken.models import Token

    owner = await sync_to_async(get_user_model().objects.create_user)("tokened", password="pw")
    token = await sync_to_async(Token.objects.create)(user=owner)
    job = await sync_to_async(Job.objects.create)(
        kind=JobKind.ANALYZE, created_by=owner, status="SUCCESS", result={"new": 3}
    )
    response = await AsyncClient().get(f"/api/jobs/{job.pk}/stream", headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = parse([chunk.decode() async for chunk in response.streaming_content])
    assert [event["status"] for event in events] == ["SUCCESS"] and events[0]["result"] == {"new": 3}

    wrong = await AsyncClient().get(f"/api/jobs/{job.pk}/stream", headers={"Authorization": "Token " + "0" * 40})
    assert wrong.status_code == 401 and json.loads(wrong.content)["error"] == "Invalid token."
    assert wrong["WWW-Authenticate"] == "Token"
    posted = await AsyncClient().post(f"/api/jobs/{job.pk}/stream", headers={"Authorization": f"Token {token.key}"})
    assert posted.status_code == 405 and posted["Allow"] == "GET"
