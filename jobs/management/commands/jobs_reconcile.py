from django.core.management.base import BaseCommand

from jobs.services import job_reconcile


class Command(BaseCommand):
    help = "Mark running jobs whose worker is gone as FAILURE (workers also do this in their maintenance pass)."

    def handle(self, *args, **options) -> None:
        fixed = job_reconcile()
        self.stdout.write(f"{fixed} abandoned jobs marked FAILURE")
