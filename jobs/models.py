import uuid

from django.conf import settings
from django.db import models


class JobKind(models.TextChoices):
    ANALYZE = "analyze", "Analyze"
    ORGANIZE = "organize", "Organize"
    THUMBNAILS = "thumbnails", "Thumbnails"
    DUPLICATES = "duplicates", "Duplicates"


class JobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    PROGRESS = "PROGRESS", "In progress"
    SUCCESS = "SUCCESS", "Success"
    FAILURE = "FAILURE", "Failure"
    CANCELLED = "CANCELLED", "Cancelled"


FINAL_STATUSES = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROGRESS)


class Job(models.Model):
    """One background job. The row is the truth: RQ only carries it (its primary key is the RQ job id), and the
    websocket only tells about it. Workers write it with ``update(...)`` on the fields they own, never ``save()``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    catalog = models.ForeignKey(
        "catalog.Catalog", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    params = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=32, default="default")
    # Who runs it: the RQ worker's name, or "embedded:<host>:<pid>" for the in-process runner.
    worker = models.CharField(max_length=255, blank=True, default="")
    # Where it runs: "<host>:<pid>" of the process running it (a forking worker's work-horse), which writes
    # heartbeat_at every few seconds while it runs (jobs.heartbeat).
    process = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    phase = models.CharField(max_length=32, blank=True, default="")
    current = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=255, blank=True, default="")
    eta_seconds = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    error_type = models.CharField(max_length=128, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["-created_at"], name="job_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def percent(self) -> float | None:
        if self.status == JobStatus.SUCCESS:
            return 100.0
        if not self.total:
            return None
        return round(min(100.0, 100.0 * self.current / self.total), 1)


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JobBatch(models.Model):
    """A slice of a large analyze job's files, taken by whichever worker gets to it first (see ``jobs.fanout``).

    ``attempt`` grows each time the batch is claimed, so a worker that lost its batch (it stalled and the job took
    it back) can no longer write to it; ``done`` is how many of its files that attempt has added to the job's
    ``current``, so taking the batch back subtracts exactly that.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    entries = models.JSONField()  # [[path, size, mtime_ns(, [[sidecar path, kind, size, mtime_ns], ...])], ...]
    known = models.JSONField(default=dict)  # {size: [sha256, ...]}: contents whose data can be copied
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, default="")
    done = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="job_batch_unique_index")]
        indexes = [models.Index(fields=["job", "status"], name="job_batch_status")]

    def __str__(self) -> str:
        return f"batch {self.index} of {self.job_id}"


def new_webhook_secret() -> str:
    import secrets

    return secrets.token_hex(32)


class Webhook(models.Model):
    """A URL that hears about job ends: every job of its owner, or (a staff member's hook) every job.

    Each POST is signed with ``secret`` (``X-VAM-Signature-256``, see ``jobs.notify``). A hook whose deliveries
    keep failing is paused (``paused_at``) until its owner or an admin resumes it.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    all_jobs = models.BooleanField(default=False, help_text="every user's jobs (staff only)")
    allow_loopback = models.BooleanField(
        default=False, help_text="may post to this server's own loopback addresses (staff only)"
    )
    active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="deliveries failed in a row")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One job end told to one hook: the document sent, and how its attempts went."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.payload.get('kind', 'job')} {self.payload.get('status', '')} to {self.webhook}"
