"""Pairs: files that are one picture to their owner, linked so that organize files them together.

- **RAW + JPEG**: a RAW and a JPEG or HEIC of the same name in one folder (``IMG_1234.CR2`` and ``IMG_1234.JPG``,
  in any case), as cameras shoot them. The RAW leads.
- **Live Photo**: a picture (JPEG or HEIC) and a MOV or MP4 of the same name in one folder whose video is short
  (at most ``LIVE_PHOTO_SECONDS``; iPhones record about three seconds), or, in any folders, the one picture and the
  one video that share Apple's ContentIdentifier (a Live Photo renamed or exported keeps it). The picture leads
  (or the RAW the picture goes with). Videos whose ContentIdentifier differs from the picture's are never paired.

Each file that goes with another points at its lead (``Asset.paired_with``) with the kind of pair; a lead never
goes with another file, so a group is one lead and its companions. Missing files pair with nothing. The links are
recomputed from the whole catalog by each analyze that finds a new, changed or missing file, or that follows a
move by organize (about 0.4 s per 100,000 files); the count is kept in the catalog's stats (``pairs``), whose
absence means "recompute".
"""

from __future__ import annotations

from collections import defaultdict

from catalog.media.analyze import RAW_EXTENSIONS
from catalog.models import Asset, AssetStatus, Catalog, PairKind

PICTURE_EXTENSIONS = {"jpg", "jpeg", "heic", "heif", "hif"}
LIVE_VIDEO_EXTENSIONS = {"mov", "mp4"}  # the video half of a Live Photo
LIVE_PHOTO_SECONDS = 10.0
BATCH = 2000


def _split(path: str) -> tuple[str, str, str]:
    """Folder, lower-case stem and lower-case extension of a path."""
    folder, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    return (folder, stem.lower(), extension.lower()) if dot and stem else (folder, name.lower(), "")


def pairs_for(rows: list[tuple[int, str, float | None, str]]) -> dict[int, tuple[int, str]]:
    """Companion id → (lead id, pair kind), from rows of (id, path, duration, content_id)."""
    by_name: dict[tuple[str, str], dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    facts: dict[int, tuple[float | None, str]] = {}
    for pk, path, duration, content_id in rows:
        folder, stem, extension = _split(path)
        role = "raw" if extension in RAW_EXTENSIONS else "picture" if extension in PICTURE_EXTENSIONS else (
            "video" if extension in LIVE_VIDEO_EXTENSIONS else "")  # fmt: skip
        if role:
            by_name[(folder, stem)][role].append((path, pk))
            facts[pk] = (duration, content_id)
    found: dict[int, tuple[int, str]] = {}
    lead_of: dict[int, int] = {}  # picture → the file that leads it (itself, or its RAW)
    for roles in by_name.values():
        raws, pictures, videos = (sorted(roles.get(role, [])) for role in ("raw", "picture", "video"))
        picture = pictures[0][1] if pictures else None
        if raws and picture is not None:
            found[picture] = (raws[0][1], PairKind.RAW_JPEG)
        if picture is not None:
            lead_of[picture] = raws[0][1] if raws else picture
        if picture is not None and videos:
            video = videos[0][1]
            (duration, video_id), picture_id = facts[video], facts[picture][1]
            same_id = bool(video_id) and video_id == picture_id
            differs = bool(video_id) and bool(picture_id) and not same_id
            if not differs and (same_id or duration is None or duration <= LIVE_PHOTO_SECONDS):
                found[video] = (lead_of[picture], PairKind.LIVE_PHOTO)
    # Renamed or exported Live Photos: the one picture and the one video that share a ContentIdentifier.
    by_id: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for roles in by_name.values():
        for role in ("picture", "video"):
            for _, pk in roles.get(role, []):
                if facts[pk][1]:
                    by_id[facts[pk][1]][role].append(pk)
    for sharing in by_id.values():
        stills, clips = sharing.get("picture", []), sharing.get("video", [])
        if len(stills) == 1 and len(clips) == 1 and clips[0] not in found:
            found[clips[0]] = (lead_of.get(stills[0], stills[0]), PairKind.LIVE_PHOTO)
    return found


def link_pairs(catalog: Catalog) -> int:
    """Bring the catalog's pair links up to date; returns the number of files that go with another."""
    assets = Asset.objects.filter(catalog=catalog)
    rows = list(
        assets.exclude(status=AssetStatus.MISSING).values_list("pk", "path", "duration", "content_id").iterator(BATCH)
    )
    wanted = pairs_for(rows)
    current = {
        pk: (lead, kind)
        for pk, lead, kind in assets.filter(paired_with__isnull=False).values_list("pk", "paired_with_id", "pair_kind")
    }
    gone = [pk for pk in current if pk not in wanted]
    for start in range(0, len(gone), BATCH):
        assets.filter(pk__in=gone[start : start + BATCH]).update(paired_with=None, pair_kind="")
    changed = [
        Asset(pk=pk, paired_with_id=lead, pair_kind=kind)
        for pk, (lead, kind) in wanted.items()
        if current.get(pk) != (lead, kind)
    ]
    Asset.objects.bulk_update(changed, ["paired_with", "pair_kind"], batch_size=BATCH)
    catalog.stats = dict(catalog.stats or {}) | {"pairs": len(wanted)}
    Catalog.objects.filter(pk=catalog.pk).update(stats=catalog.stats)
    return len(wanted)


def pairs_stale(catalog: Catalog) -> None:
    """Files moved (by organize): the next analyze links pairs again even when it finds nothing new."""
    stats = dict(catalog.stats or {})
    if stats.pop("pairs", None) is not None:
        catalog.stats = stats
        Catalog.objects.filter(pk=catalog.pk).update(stats=stats)
