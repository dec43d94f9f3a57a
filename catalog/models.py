from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import F


class Catalog(models.Model):
    """A catalog is identified by its catalog path: the folder that holds its thumbnails and reports."""

    path = models.CharField(max_length=1024, unique=True)
    name = models.CharField(max_length=255)
    source_directories = models.JSONField(default=list, blank=True)
    exclude_directories = models.JSONField(
        default=list, blank=True, help_text="folders inside the sources that analyze skips (organize outputs, say)"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="catalogs",
        help_text="besides staff, the one user who may change its sources, delete it and move its files",
    )  # fmt: skip
    last_analyzed_at = models.DateTimeField(null=True, blank=True)
    # Rescans on a schedule (catalog.services.schedule): "" (off), "hourly", "nightly" or a cron expression in the
    # server's time zone; the next instant it is due; why the last one due did not run, if it did not.
    schedule = models.CharField(max_length=100, blank=True, default="", db_default="")
    schedule_next_at = models.DateTimeField(null=True, blank=True)
    schedule_note = models.CharField(max_length=255, blank=True, default="", db_default="")
    # The dashboard's figures, computed when the catalog changes (catalog.services.stats), read in one row.
    stats = models.JSONField(default=dict, blank=True)
    stats_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def thumbnails_dir(self) -> Path:
        return Path(self.path) / "thumbnails"


class MediaType(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"


class PairKind(models.TextChoices):
    RAW_JPEG = "raw_jpeg", "RAW + JPEG"
    LIVE_PHOTO = "live_photo", "Live Photo"


class AssetStatus(models.TextChoices):
    OK = "ok", "OK"
    PROBLEM = "problem", "Problem"
    MISSING = "missing", "Missing"


class DateSource(models.TextChoices):
    MANUAL = "manual", "Set by hand"
    EXIF_ORIGINAL = "exif_original", "EXIF DateTimeOriginal"
    EXIF_DIGITIZED = "exif_digitized", "EXIF CreateDate"
    METADATA_DATE = "metadata_date", "XMP/IPTC date (no time of day)"
    VIDEO = "video_created", "Video creation time"
    TAKEOUT = "takeout", "Google Takeout time"
    FILENAME = "filename", "File name"
    FOLDER = "folder", "Folder name"
    EXIF_MODIFIED = "exif_modified", "EXIF ModifyDate"
    MTIME = "mtime", "File modification time"


# A capture date worth the name: one the analysis read from the file, its name, its folder, or a person. The file's
# modification time is a guess (a copy or a download resets it): such assets sort, count and file with the undated.
RELIABLE_DATE = models.Q(taken_at__isnull=False) & ~models.Q(date_source=DateSource.MTIME)


class Asset(models.Model):
    """One row per file path. Byte-identical files are separate rows that share a sha256.

    ``taken_at`` is the camera's wall-clock time. It is stored with the UTC label only because the database
    column is time-zone aware; read its fields as they are and never convert it to another zone.
    ``dhash`` / ``phash`` are the 64-bit hashes stored as signed integers (view them as uint64 for Hamming);
    ``fine_hash`` holds their 256-bit versions.
    """

    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="assets")
    path = models.TextField()
    size = models.BigIntegerField(default=0)
    mtime_ns = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    media_type = models.CharField(max_length=8, choices=MediaType.choices, blank=True, default="")
    format = models.CharField(max_length=16, blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    orientation = models.PositiveSmallIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, for videos")

    taken_at = models.DateTimeField(null=True, blank=True)
    taken_at_offset = models.SmallIntegerField(null=True, blank=True, help_text="Minutes east of UTC, if recorded")
    date_source = models.CharField(max_length=16, choices=DateSource.choices, blank=True, default="")
    date_confidence = models.FloatField(null=True, blank=True)
    date_suspicious = models.BooleanField(default=False)
    date_note = models.CharField(max_length=255, blank=True, default="")

    camera_make = models.CharField(max_length=128, blank=True, default="")
    camera_model = models.CharField(max_length=128, blank=True, default="")
    lens_model = models.CharField(max_length=128, blank=True, default="")
    exposure_time = models.FloatField(null=True, blank=True, help_text="Seconds")
    f_number = models.FloatField(null=True, blank=True)
    iso = models.PositiveIntegerField(null=True, blank=True)
    focal_length = models.FloatField(null=True, blank=True, help_text="Millimetres")
    gps_latitude = models.FloatField(null=True, blank=True)
    gps_longitude = models.FloatField(null=True, blank=True)
    gps_altitude = models.FloatField(null=True, blank=True)
    exif = models.JSONField(default=dict, blank=True)
    # (database defaults too: rows written by COPY or raw SQL that do not name them stay valid)
    keywords = models.JSONField(default=list, db_default=[], blank=True, help_text="XMP subject / IPTC keywords")
    rating = models.SmallIntegerField(null=True, blank=True, help_text="XMP rating, -1 (rejected) to 5")
    title = models.CharField(max_length=255, blank=True, default="", db_default="")
    description = models.TextField(blank=True, default="", db_default="")
    content_id = models.CharField(
        max_length=64, blank=True, default="", db_default="",
        help_text="Apple's ContentIdentifier: a Live Photo's picture and video share it",
    )  # fmt: skip
    # A file that goes with another (``catalog.services.pairs``): a RAW's JPEG, a Live Photo's video. It points at
    # the file that leads the pair (the RAW, the picture); organize files them together under one name.
    paired_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="companions",
    )  # fmt: skip
    pair_kind = models.CharField(max_length=12, choices=PairKind.choices, blank=True, default="", db_default="")

    dhash = models.BigIntegerField(null=True, blank=True)
    phash = models.BigIntegerField(null=True, blank=True)
    # 256-bit dHash + pHash (64 bytes) that confirm near-duplicate candidates found with the 64-bit ones.
    fine_hash = models.BinaryField(max_length=64, null=True, blank=True)
    # dHash and pHash of the picture's seven turns and mirrors (``catalog.media.dihedral``): how a copy whose pixels
    # an editor turned is found.
    hash_variants = models.BinaryField(max_length=112, null=True, blank=True)
    # A video's frames sampled at fixed points of its duration, hashed like pictures (``catalog.media.videohash``):
    # how a re-encoded, scaled, trimmed or letterboxed copy of a video is found.
    video_signature = models.BinaryField(max_length=1024, null=True, blank=True)

    status = models.CharField(max_length=8, choices=AssetStatus.choices, default=AssetStatus.OK)
    problem_kind = models.CharField(max_length=32, blank=True, default="")
    problem_message = models.TextField(blank=True, default="")
    note = models.CharField(max_length=255, blank=True, default="")

    analyzed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["catalog", "path"], name="asset_unique_path")]
        indexes = [
            models.Index(fields=["catalog", "sha256"], name="asset_catalog_sha256"),
            models.Index(fields=["catalog", "taken_at", "id"], name="asset_oldest"),
            models.Index(fields=["catalog", "size", "id"], name="asset_size"),
            models.Index(fields=["catalog", "camera_model"], name="asset_camera"),
            models.Index(fields=["catalog", "media_type"], name="asset_media_type"),
            models.Index(
                fields=["catalog", "id"], condition=models.Q(date_suspicious=True), name="asset_suspicious"
            ),  # rare rows: found without scanning the catalog
            # And on Postgres only (migration 0004): asset_newest (catalog, taken_at DESC NULLS LAST, id DESC), the
            # grid's default order, and asset_folder (catalog, path text_pattern_ops) for folder filters.
            # The grid by capture date: the reliably dated in date order (either way), then the rest by id.
            models.Index(fields=["catalog", "taken_at", "id"], condition=RELIABLE_DATE, name="asset_dated"),
            models.Index(fields=["catalog", "id"], condition=~RELIABLE_DATE, name="asset_no_reliable_date"),
            models.Index(fields=["status"], name="asset_status"),
            models.Index(fields=["catalog", "status"], name="asset_catalog_status"),
        ]
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path

    @property
    def reliably_dated(self) -> bool:
        return self.taken_at is not None and self.date_source != DateSource.MTIME

    @property
    def dhash_hex(self) -> str:
        return hash_hex(self.dhash)

    @property
    def phash_hex(self) -> str:
        return hash_hex(self.phash)


class SidecarKind(models.TextChoices):
    XMP = "xmp", "XMP"
    TAKEOUT = "takeout", "Google Takeout JSON"
    AAE = "aae", "Apple edits (AAE)"
    THM = "thm", "Video thumbnail (THM)"


class Sidecar(models.Model):
    """A file beside an asset that describes it (``catalog.media.sidecars``): never an asset of its own.

    Analyze keeps these rows in step with the folder: a sidecar removed is unlinked, a new one linked, a changed
    one read again (with its media file).
    """

    asset = models.ForeignKey("Asset", on_delete=models.CASCADE, related_name="sidecars")
    path = models.TextField()
    kind = models.CharField(max_length=8, choices=SidecarKind.choices)
    size = models.BigIntegerField(default=0)
    mtime_ns = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "path"], name="sidecar_unique_path")]
        ordering = ["asset", "path"]

    def __str__(self) -> str:
        return f"{self.path} ({self.kind})"


def hash_hex(value: int | None) -> str:
    """16 hex digits of a 64-bit hash stored signed."""
    return "" if value is None else f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


class GroupKind(models.TextChoices):
    EXACT = "exact", "Exact"
    SIMILAR = "similar", "Similar"
    VIDEO = "video", "Similar videos"


# The kinds of near-duplicate groups: their members are different contents a user may tell apart.
NEAR_KINDS = (GroupKind.SIMILAR, GroupKind.VIDEO)


class DuplicateGroup(models.Model):
    """A set of assets that are copies of one picture, rebuilt by every duplicate detection.

    An exact group holds the paths of one content (same sha256). A similar group holds every path of several
    contents that are all within the thresholds of each other; the exact group of a content in it points at it
    through ``cluster``, so the two are shown as one. ``key`` names the group by its contents, so a re-run that
    finds the same group keeps its id and the primary a user chose.
    """

    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="duplicate_groups")
    kind = models.CharField(max_length=8, choices=GroupKind.choices)
    key = models.CharField(max_length=64, help_text="sha256 of the group's sorted member contents")
    cluster = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="exact_groups",
        help_text="the similar group that holds this exact group's content",
    )  # fmt: skip
    primary = models.ForeignKey("Asset", null=True, on_delete=models.SET_NULL, related_name="+")
    primary_chosen = models.BooleanField(default=False, help_text="the primary was chosen by a user")
    member_count = models.PositiveIntegerField(default=0)
    redundant_bytes = models.BigIntegerField(default=0, help_text="the space the copies other than the primary take")
    reviewed_at = models.DateTimeField(null=True, blank=True, help_text="when a user marked the group reviewed")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["catalog", "key"], name="duplicate_group_unique_key")]
        indexes = [
            models.Index(fields=["catalog", "kind"], name="duplicate_group_kind"),
            # The review list: most space to gain first (catalog.services.duplicates, catalog.api).
            models.Index(F("catalog"), F("redundant_bytes").desc(), F("id").desc(), name="duplicate_group_gain"),
        ]
        ordering = ["catalog", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} group {self.pk} ({self.member_count} files)"


class DuplicateMember(models.Model):
    """One asset of a group, with its distances to the group's primary (0 for the primary and its copies)."""

    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="duplicate_memberships")
    distance = models.PositiveSmallIntegerField(default=0, help_text="dHash bits that differ from the primary")
    phash_distance = models.PositiveSmallIntegerField(default=0, help_text="pHash bits that differ from the primary")
    quality_score = models.FloatField(default=0)
    # How this file's picture relates to the primary's: the turn or mirror that gives it from the primary
    # (``Image.Transpose`` codes, 7 for none) and the edit in words ("turned 90° to the left", "cropped", …).
    turn = models.PositiveSmallIntegerField(default=7, db_default=7)
    edit = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "asset"], name="duplicate_member_unique")]
        ordering = ["group", "distance", "-quality_score", "asset__path"]

    def __str__(self) -> str:
        return f"{self.asset.path} in group {self.group_id}"


class NotDuplicate(models.Model):
    """A user's decision that two contents are not duplicates: they are never grouped together again."""

    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="not_duplicates")
    sha256_a = models.CharField(max_length=64)
    sha256_b = models.CharField(max_length=64, help_text="sorted: sha256_a < sha256_b")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalog", "sha256_a", "sha256_b"], name="not_duplicate_unique"),
            models.CheckConstraint(condition=models.Q(sha256_a__lt=models.F("sha256_b")), name="not_duplicate_sorted"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256_a[:12]} ≠ {self.sha256_b[:12]}"


class EditCheck(models.Model):
    """What the keypoint or turn test said of two contents (``catalog.services.edits``): kept so that a later run
    asks each pair once. ``test`` is the test and its bounds ("align/56/56", "turn 2/56/56"); ``first_is_a``
    says which of the two the relation is measured from."""

    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="edit_checks")
    sha256_a = models.CharField(max_length=64)
    sha256_b = models.CharField(max_length=64, help_text="sorted: sha256_a < sha256_b")
    test = models.CharField(max_length=32)
    same = models.BooleanField(help_text="the two show the same picture")
    first_is_a = models.BooleanField(default=True)
    turn = models.PositiveSmallIntegerField(default=7)
    words = models.CharField(max_length=64, blank=True, default="")
    derived = models.BooleanField(default=False)
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalog", "sha256_a", "sha256_b", "test"], name="edit_check_unique"),
            models.CheckConstraint(condition=models.Q(sha256_a__lt=models.F("sha256_b")), name="edit_check_sorted"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256_a[:12]} {'=' if self.same else '≠'} {self.sha256_b[:12]} ({self.test})"


class StepState(models.TextChoices):
    DRAFT = "draft", "Draft"  # written while the plan is computed; all become PLANNED at once when it is complete
    PLANNED = "planned", "Planned"
    SKIPPED = "skipped", "Skipped"
    STARTED = "started", "Copying"  # the temporary file may exist, partly written
    VERIFIED = "verified", "Verified"  # the temporary file is complete and checked; ``target`` is the chosen name
    PLACED = "placed", "Placed"  # the target is in place; a move has yet to remove its source
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Operation(models.TextChoices):
    COPY = "copy", "Copy"
    MOVE = "move", "Move"
    HARDLINK = "hardlink", "Hard link"


class StepKind(models.TextChoices):
    MEDIA = "media", "Media file"
    SIDECAR = "sidecar", "Sidecar"


class OrganizeStep(models.Model):
    """One file of an organize job: its row in the plan, then the write-ahead journal of what was done to it.

    Each state is written (and committed) before the file system change that follows it, so after a crash the
    row and the file system together say what to finish or undo (``catalog.services.organize``).
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="organize_steps")
    seq = models.PositiveIntegerField()
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A step that goes with another: a sidecar of the asset, or the other file of a pair. It follows the step it
    # goes with (its lead, an earlier seq) and takes that step's final name with ``name_tail`` in place of the
    # lead's extension; a move removes no source of the group until every file of it is in place.
    follows = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="followers",
    )  # fmt: skip
    kind = models.CharField(max_length=8, choices=StepKind.choices, default=StepKind.MEDIA, db_default=StepKind.MEDIA)
    name_tail = models.CharField(max_length=255, blank=True, default="", db_default="")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    source = models.TextField()
    target = models.TextField(blank=True, default="")
    temp = models.TextField(blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.BigIntegerField(default=0)
    mtime_ns = models.BigIntegerField(default=0)
    state = models.CharField(max_length=12, choices=StepState.choices, default=StepState.PLANNED)
    already_present = models.BooleanField(default=False, help_text="the target held the same content already")
    conflict = models.BooleanField(default=False, help_text="the planned name was taken: a suffix was added")
    # The file this step puts at ``target`` (device and inode of the verified temporary file, or of the source for
    # a hard link), recorded with VERIFIED before it gets that name: rollback removes a target only if it is that
    # very file, never one that another job, another catalog or a user put there.
    file_device = models.BigIntegerField(null=True, blank=True)
    file_inode = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True, default="", help_text="why it was skipped or failed")
    rollback_note = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="organize_step_unique_seq")]
        indexes = [
            models.Index(fields=["job", "state"], name="organize_step_state"),
            models.Index(fields=["target"], name="organize_step_target"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target or '?'} ({self.state})"
