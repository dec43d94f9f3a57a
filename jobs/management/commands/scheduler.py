import os
import socket

from django.core.management.base import BaseCommand, CommandError

from jobs.schedule import TICK_NAME, TICK_SECONDS, schedule_tick
from jobs.state import uses_redis


class Command(BaseCommand):
    help = (
        "Run the catalogs' rescan schedules on the full stack: RQ's CronScheduler enqueues the tick on the default "
        "queue every minute (and once at start, for the rescans missed while it was down); the workers run it."
    )

    def handle(self, *args, **options) -> None:
        if not uses_redis():
            raise CommandError(
                "the scheduler needs REDIS_URL; in the embedded default `manage.py serve` (make serve) runs the "
                "schedules itself"
            )
        import django_rq
        from rq.cron import CronScheduler

        scheduler = CronScheduler(
            connection=django_rq.get_connection("default"), name=f"vam:{socket.gethostname()}:{os.getpid()}"
        )
        scheduler.register(
            schedule_tick, queue_name="default", interval=TICK_SECONDS, job_timeout=300, result_ttl=3600,
            failure_ttl=7 * 24 * 3600, name=TICK_NAME,
        )  # fmt: skip
        self.stderr.write(f"scheduler {scheduler.name}: checking the rescan schedules every {TICK_SECONDS} s")
        scheduler.start()
