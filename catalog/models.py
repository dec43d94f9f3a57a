from pathlib import Path

from django.db import models


class Catalog(models.Model):
    """A catalog is identified by its catalog path: the folder that holds its thumbnails and reports."""

    path = models.CharField(max_length=1024, unique=True)
    name = models.CharField(max_length=255)
    source_directories = models.JSONField(default=list, blank=True)
    last_analyzed_at = models.DateTimeField(null=True, blank=True)
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


class AssetStatus(models.TextChoices):
    OK = "ok", "OK"
    PROBLEM = "problem", "Problem"
    MISSING = "missing", "Missing"


class DateSource(models.TextChoices):
    EXIF_ORIGINAL = "exif_original", "EXIF DateTimeOriginal"
    EXIF_DIGITIZED = "exif_digitized", "EXIF CreateDate"
    VIDEO = "video_created", "Video creation time"
    FILENAME = "filename", "File name"
    FOLDER = "folder", "Folder name"
    EXIF_MODIFIED = "exif_modified", "EXIF ModifyDate"
    MTIME = "mtime", "File modification time"


class Asset(models.Model):
    """One row per file path. Byte-identical files are separate rows that share a sha256.

    ``taken_at`` is the camera's wall-clock time. It is stored with the UTC label only because the database
    column is time-zone aware; read its fields as they are and never convert it to another zone.
    ``dhash`` / ``phash`` are the 64-bit hashes stored as signed integers (view them as uint64 for Hamming).
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

    dhash = models.BigIntegerField(null=True, blank=True)
    phash = models.BigIntegerField(null=True, blank=True)

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
            models.Index(fields=["catalog", "taken_at"], name="asset_catalog_taken_at"),
            models.Index(fields=["status"], name="asset_status"),
            models.Index(fields=["catalog", "status"], name="asset_catalog_status"),
        ]
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path

    @property
    def dhash_hex(self) -> str:
        return hash_hex(self.dhash)

    @property
    def phash_hex(self) -> str:
        return hash_hex(self.phash)


def hash_hex(value: int | None) -> str:
    """16 hex digits of a 64-bit hash stored signed."""
    return "" if value is None else f"{value & 0xFFFFFFFFFFFFFFFF:016x}"
