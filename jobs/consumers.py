"""Websockets: ``/ws/jobs/<id>/`` follows one job, ``/ws/jobs/`` every job the user may see.

On connect the consumer joins the channel group first and then sends a snapshot from the database, so no event
falls between the two; then it relays ``job.progress`` events (the REST API's job-status payload). Anonymous
users are refused with close code 4401, unknown or invisible jobs with 4404. Each event says whether the job is the
user's own (``mine``), for the browser notification the jobs pages offer.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.reporter import ALL_JOBS_GROUP, job_group
from jobs.selectors import job_list_visible, job_status, job_visible_for

SNAPSHOT_JOBS = 50


class JobsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user = user
        job_id = self.scope["url_route"]["kwargs"].get("job_id")
        if job_id is not None:
            job = await database_sync_to_async(job_visible_for(user).filter(pk=job_id).first)()
            if job is None:
                await self.close(code=4404)
                return
        self.group = job_group(job_id) if job_id else ALL_JOBS_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if job_id is not None:
            await self.send_json({"type": "job.snapshot", "job": await database_sync_to_async(_status)(job_id)})
        else:
            await self.send_json({"type": "jobs.snapshot", "jobs": await database_sync_to_async(_recent)(user)})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_progress(self, event: dict) -> None:
        job = event["job"]
        if self.group == ALL_JOBS_GROUP and not (self.user.is_staff or event.get("owner") == self.user.pk):
            return
        # ``mine``: the page may tell its user when one of their own jobs ends (browser notifications).
        await self.send_json({"type": "job.progress", "job": job, "mine": event.get("owner") == self.user.pk})


def _status(job_id) -> dict:
    from jobs.models import Job

    return job_status(Job.objects.get(pk=job_id))


def _recent(user) -> list[dict]:
    return [job_status(job) for job in job_list_visible(user)[:SNAPSHOT_JOBS]]
