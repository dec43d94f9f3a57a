"""Scheduled rescans: the schedule a catalog carries (page, admin, API, command), the tick that starts the due
rescans (one per missed stretch, never two at once), RQ's CronScheduler on the full stack and the embedded
server's own clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from catalog.models import Catalog
from catalog.services.schedule import ScheduleError, catalog_set_schedule, next_slot, schedule_parse
from jobs.models import Job, JobKind, JobStatus
from jobs.schedule import EmbeddedClock, rescans_start
from jobs.services import job_start
from tests.jobs.workers import REPO, TIMEOUT, wait_until, worker_command
from tests.services.helpers import camera_photo, plain_photo


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The schedule itself ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("", ""), ("Off", ""), (None, ""), ("HOURLY", "hourly"), ("nightly", "nightly"),
     ("30   2 * *  0", "30 2 * * 0"), ("*/15 8-18 * * mon-fri", "*/15 8-18 * * mon-fri")],
)  # fmt: skip
def test_presets_and_cron_expressions_are_accepted(given, stored):
    assert schedule_parse(given) == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [("weekly", "not 1"), ("0 3 * *", "five fields"), ("0 3 * * * *", "not 6"), ("61 3 * * *", "not a valid cron"),
     ("0 3 * * funday", "not a valid cron"), ("0 " * 60, "too long")],
)  # fmt: skip
def test_a_bad_schedule_says_what_is_wrong(given, says):
    with pytest.raises(ScheduleError, match=says):
        schedule_parse(given)


@override_settings(VAM_TIME_ZONE="Europe/Berlin")
def test_slots_are_read_in_the_servers_time_zone():
    # 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
    assert next_slot("nightly", at("2026-12-04T10:00:00")) == at("2026-12-05T02:00:00")
    assert next_slot("nightly", at("2026-07-04T10:00:00")) == at("2026-07-05T01:00:00")
    assert next_slot("hourly", at("2026-12-04T10:00:00")) == at("2026-12-04T11:00:00")
    assert next_slot("30 2 * * 0", at("2026-12-04T10:00:00")) == at("2026-12-06T01:30:00")  # Sunday 02:30 local
    assert next_slot("", at("2026-12-04T10:00:00")) is None


@override_settings(VAM_TIME_ZONE="Europe/Berlin")
def test_across_summer_time_a_slot_runs_once():
    # 2027-03-28: the clocks skip 02:00-03:00, so 02:30 runs at 03:00 local (01:00 UTC).
    assert next_slot("30 2 * * *", at("2027-03-27T12:00:00")) == at("2027-03-28T01:00:00")
    # 2027-10-31: 02:00-03:00 comes twice; 02:30 runs the first time (00:30 UTC), and next on 1 November.
    assert next_slot("30 2 * * *", at("2027-10-30T12:00:00")) == at("2027-10-31T00:30:00")
    assert next_slot("30 2 * * *", at("2027-10-31T00:30:05")) == at("2027-11-01T01:30:00")


# The tick -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def scheduled(roots):
    """A catalog of two photos whose nightly rescan was due three nights ago (nothing ran since)."""
    photos = roots / "photos"
    camera_photo(photos / "DSC_0001.jpg", "2019:03:15 14:22:33")
    plain_photo(photos / "scan.jpg")
    catalog = Catalog.objects.create(name="Family", path=str(roots / "catalog"), source_directories=[str(photos)])
    catalog_set_schedule(catalog=catalog, schedule="nightly", now=timezone.now() - timedelta(days=3, hours=1))
    return catalog


@pytest.mark.django_db
def test_missed_slots_give_one_rescan_and_the_next_slot_lies_ahead(scheduled, queue):
    now = timezone.now()
    started = rescans_start(now=now)
    assert len(started) == 1
    job = started[0]
    assert job.kind == JobKind.ANALYZE and job.catalog == scheduled
    assert job.params["source_directories"] == scheduled.source_directories and job.params["scheduled"] == "nightly"
    scheduled.refresh_from_db()
    assert now < scheduled.schedule_next_at <= now + timedelta(days=1)
    assert scheduled.schedule_note == ""
    assert rescans_start(now=now + timedelta(minutes=1)) == []  # the missed nights are not run one by one


@pytest.mark.django_db
def test_a_due_rescan_waits_for_no_one_but_never_runs_beside_the_previous(scheduled, queue, admin_user):
    running = job_start(
        kind=JobKind.ANALYZE, params={"catalog_path": scheduled.path, "source_directories": []}, user=admin_user
    )
    assert rescans_start() == []
    scheduled.refresh_from_db()
    assert f"skipped: analyze job {str(running.pk)[:8]} was still waiting for a worker" in scheduled.schedule_note
    assert scheduled.schedule_next_at > timezone.now()
    assert Job.objects.filter(kind=JobKind.ANALYZE).count() == 1


@pytest.mark.django_db
def test_a_catalog_without_sources_says_why_its_rescan_did_not_run(scheduled, queue):
    Catalog.objects.filter(pk=scheduled.pk).update(source_directories=[])
    assert rescans_start() == []
    scheduled.refresh_from_db()
    assert "did not run: the catalog has no source folders yet" in scheduled.schedule_note


@pytest.mark.django_db
def test_a_slot_is_claimed_once(scheduled, queue):
    stale = Catalog.objects.get(pk=scheduled.pk)  # a second scheduler that read the row at the same moment
    assert len(rescans_start()) == 1
    from jobs.schedule import _rescan_start

    assert _rescan_start(stale, timezone.now()) is None
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_turning_the_schedule_off_stops_the_rescans(scheduled, queue):
    catalog_set_schedule(catalog=scheduled, schedule="")
    assert scheduled.schedule_next_at is None
    assert rescans_start() == []


# Through RQ: the scheduler service and a real worker ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_service_runs_a_missed_rescan_through_the_workers(scheduled, queue, spawn):
    worker = spawn(worker_command("default"))
    scheduler = spawn([sys.executable, "manage.py", "scheduler"])

    def finished():
        return Job.objects.filter(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS).first()

    job = wait_until(finished, "the scheduled rescan to finish", worker)
    assert not scheduler.exited(), scheduler.log()
    assert job.params["scheduled"] == "nightly" and job.catalog_id == scheduled.pk
    assert job.result["new"] == 2 and job.result["missing"] == 0
    scheduled.refresh_from_db()
    assert scheduled.schedule_next_at > timezone.now() and scheduled.last_analyzed_at is not None
    assert Job.objects.filter(kind=JobKind.ANALYZE).count() == 1


@pytest.mark.django_db
def test_the_job_page_says_the_schedule_started_it(admin_client, scheduled, queue):
    job = rescans_start()[0]
    page = admin_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Scheduled rescan of Family" in page and "the catalog&#x27;s rescan schedule" in page
    assert "every night at 03:00" in page


# The embedded default: `manage.py serve` keeps the clock ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_embedded_clock_runs_due_rescans_on_the_in_process_runner(scheduled):
    with override_settings(REDIS_URL=""):
        clock = EmbeddedClock().start()
        try:
            job = wait_until(
                lambda: Job.objects.filter(kind=JobKind.ANALYZE, status=JobStatus.SUCCESS).first(),
                "the embedded rescan to finish",
            )
        finally:
            clock.stop()
    assert job.worker.startswith("embedded:") and job.result["new"] == 2


@pytest.mark.embedded
def test_serve_runs_the_schedules_of_the_embedded_default(tmp_path):
    photos = tmp_path / "photos"
    plain_photo(photos / "IMG_20210102_030405.jpg")
    data_dir, catalog = tmp_path / "data", tmp_path / "catalog"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(VAM_DATA_DIR=str(data_dir), VAM_LIBRARY_ROOTS=str(tmp_path))

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("analyze", str(catalog), "-s", str(photos))
    assert "every night at 03:00" in manage("catalogs", str(catalog), "--schedule", "nightly")
    plain_photo(photos / "IMG_20220304_050607.jpg", color=(30, 160, 30))  # a photo added since
    manage("shell", "-c", BACKDATE % str(catalog.resolve()))
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "127.0.0.1:0"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def rescanned():
            return json.loads(manage("shell", "-v", "0", "-c", LAST_SCHEDULED) or "null")

        result = wait_until(rescanned, "the scheduled rescan in the embedded server")
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT)
    assert result["status"] == "SUCCESS" and result["new"] == 1 and result["unchanged"] == 1, result
    assert "the next one" in manage("catalogs", str(catalog))


BACKDATE = """
from datetime import timedelta
from django.utils import timezone
from catalog.models import Catalog
Catalog.objects.filter(path=%r).update(schedule_next_at=timezone.now() - timedelta(hours=5))
"""
LAST_SCHEDULED = """
import json
from jobs.models import Job
job = Job.objects.filter(params__scheduled="nightly").order_by("-created_at").first()
if job is not None and job.is_final:
    print(json.dumps({"status": job.status, **(job.result or {})}))
"""


# Where users set it -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_catalog_page_sets_the_schedule_and_tells_the_next_rescan(admin_client, scheduled):
    url = f"/catalogs/{scheduled.pk}/edit/"
    form = {"name": "Family", "sources": "\n".join(scheduled.source_directories)}
    refused = admin_client.post(url, form | {"schedule_choice": "cron", "schedule_cron": "0 25 * * *"})
    assert refused.status_code == 400
    assert "&#x27;0 25 * * *&#x27; is not a valid cron expression" in refused.content.decode()
    assert admin_client.post(url, form | {"schedule_choice": "cron", "schedule_cron": "30 2 * * 0"}).status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.schedule == "30 2 * * 0" and scheduled.schedule_next_at > timezone.now()
    page = admin_client.get(f"/catalogs/{scheduled.pk}/").content.decode()
    assert "Rescans cron 30 2 * * 0" in page and "the next one" in page
    shown = admin_client.get(url).content.decode()
    assert 'value="30 2 * * 0"' in shown and '<option value="cron" selected>' in shown
    admin_client.post(url, form | {"schedule_choice": "off", "schedule_cron": ""})
    scheduled.refresh_from_db()
    assert scheduled.schedule == "" and scheduled.schedule_next_at is None
    assert "No scheduled rescans." in admin_client.get(f"/catalogs/{scheduled.pk}/").content.decode()


@pytest.mark.django_db
def test_the_api_reads_and_changes_the_schedule_for_those_who_may(client, admin_client, scheduled, django_user_model):
    url = f"/api/catalogs/{scheduled.pk}"
    body = admin_client.get(url).json()
    assert body["schedule"] == "nightly" and body["schedule_next_at"]
    bad = admin_client.patch(url, {"schedule": "sometimes"}, content_type="application/json")
    assert bad.status_code == 400 and "is not a schedule" in json.dumps(bad.json())
    assert admin_client.patch(url, [], content_type="application/json").status_code == 400
    changed = admin_client.patch(url, {"schedule": "hourly"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["schedule"] == "hourly"
    assert admin_client.patch(url, {"schedule": None}, content_type="application/json").json()["schedule"] is None
    someone = django_user_model.objects.create_user("someone", password="pw-someone-1")
    client.force_login(someone)
    assert client.patch(url, {"schedule": "hourly"}, content_type="application/json").status_code == 403
    client.logout()
    assert client.patch(url, {"schedule": "hourly"}, content_type="application/json").status_code in (401, 403)
    scheduled.refresh_from_db()
    assert scheduled.schedule == ""


@pytest.mark.django_db
def test_the_catalogs_command_sets_and_shows_the_schedule(scheduled, capsys):
    call_command("catalogs", scheduled.path, "--schedule", "hourly")
    assert "Family: every hour, on the hour" in capsys.readouterr().out
    call_command("catalogs")
    assert "rescans:" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--schedule: 'every day' is not a schedule"):
        call_command("catalogs", scheduled.path, "--schedule", "every day")
    with pytest.raises(CommandError, match="name the catalog"):
        call_command("catalogs", "--schedule", "hourly")


@pytest.mark.django_db
def test_the_admin_sets_the_schedule_and_keeps_the_slot_of_an_unchanged_one(admin_client, scheduled):
    url = f"/admin/catalog/catalog/{scheduled.pk}/change/"
    form = {
        "name": scheduled.name, "path": scheduled.path, "owner": "",
        "source_directories": json.dumps(scheduled.source_directories), "exclude_directories": "[]",
        "stats": "{}", "stats_at_0": "", "stats_at_1": "",
    }  # fmt: skip
    refused = admin_client.post(url, form | {"schedule": "0 3 * *"})
    assert refused.status_code == 200 and "five fields" in refused.content.decode()
    slot = scheduled.schedule_next_at
    assert admin_client.post(url, form | {"schedule": "nightly"}).status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.schedule_next_at == slot  # saved as it was: the missed slot still runs
    assert admin_client.post(url, form | {"schedule": "hourly"}).status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.schedule == "hourly" and scheduled.schedule_next_at > timezone.now()
