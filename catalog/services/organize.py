"""Organize: file a catalog's assets into date folders by copy, move or hard link, and never lose one.

Every run first computes its whole plan (source → target) and stores it as ``OrganizeStep`` rows under its job; a
dry run stops there. Executing a step then follows a write-ahead protocol, each state committed before the file
system change it announces:

    PLANNED   → (record STARTED with the temporary name) copy the source to ``.vam-<job>-<seq>.part`` in the
                target folder and fsync it
    STARTED   → verify the copy's sha256 against the catalog's, choose a free name (or find the same content
                already there), record VERIFIED with that name
    VERIFIED  → link the copy to its name (``link(2)``: never replaces), fsync the folder, drop the temporary name;
                record PLACED (a move) or DONE
    PLACED    → remove the source and fsync its folder; record DONE and point the asset at its new path

A move within one file system makes its temporary name a hard link to the source instead of a copy (no byte is
copied, and the file is never in fewer than one place); across file systems it copies. A hard link operation
skips the temporary name: its source is linked to the chosen name. A crash at any instant leaves the source in
place until its verified copy is in place, so every file is at its source or verified at its target. Resuming
looks at the state each unfinished step recorded and at the file system, and finishes it or redoes it from
scratch (``_advance`` handles fresh and interrupted steps alike). Rollback undoes steps in reverse order by the
operation they logged, checking contents before it removes anything.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q

from catalog.media import safefs
from catalog.media.paths import inside_any, is_inside, really_inside_any
from catalog.media.progress import NullReporter, ProgressReporter
from catalog.media.sidecars import renamed_sidecar
from catalog.media.words import counted
from catalog.models import (
    Asset,
    AssetStatus,
    Catalog,
    DuplicateMember,
    GroupKind,
    Operation,
    OrganizeStep,
    Sidecar,
    StepKind,
    StepState,
)
from catalog.services.locks import with_catalog_lock
from catalog.services.pairs import pairs_stale
from jobs.models import Job, JobKind

logger = logging.getLogger(__name__)

STRUCTURES = {
    "YYYY/MM": "%Y/%m", "YYYY-MM": "%Y-%m", "YYYY/MM-DD": "%Y/%m-%d", "YYYY-MM-DD": "%Y-%m-%d", "YYYY": "%Y",
    "FLAT": "",
}  # fmt: skip
NAMINGS = ("date_time_checksum", "date_time_original", "original", "checksum")
OPERATIONS = tuple(Operation.values)
FINAL = (StepState.DONE, StepState.SKIPPED, StepState.FAILED, StepState.ROLLED_BACK, StepState.DRAFT)
IN_FLIGHT = (StepState.STARTED, StepState.VERIFIED, StepState.PLACED)
# Dates a user would not file by: modification times, and anything below this confidence or flagged suspicious.
MIN_DATE_CONFIDENCE = 0.3
PLAN_BATCH = 1000
REFUSED_LISTED = 5


class OrganizeError(Exception):
    """A reason the whole run cannot start; nothing has been written."""


@dataclass
class OrganizeOptions:
    output: str
    operation: str = Operation.COPY
    structure: str = "YYYY/MM"
    naming: str = "date_time_checksum"
    dry_run: bool = False
    verify: bool = True
    skip_duplicates: bool = False
    # Only the copies other than the primary of each exact group (byte-identical), as duplicate review's "move
    # redundant copies to a folder" asks: a move of those alone, with the journal's rollback.
    only_redundant: bool = False
    undated_folder: str | None = "undated"  # None: assets without a reliable date are skipped
    # An output inside a source folder is refused (the next analyze would catalog the organized copies again)
    # unless it is left out of the catalog's scans: this adds it to ``exclude_directories`` when the run executes.
    exclude_output: bool = False
    # For runs asked for through the web or the API: the library roots that the output and every file must lie in.
    roots: list[str] | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> OrganizeOptions:
        return cls(
            output=params["output_directory"],
            operation=params.get("operation", Operation.COPY),
            structure=params.get("directory_structure", "YYYY/MM"),
            naming=params.get("naming_strategy", "date_time_checksum"),
            dry_run=params.get("dry_run", False),
            verify=params.get("verify_checksums", True),
            skip_duplicates=params.get("skip_duplicates", False),
            only_redundant=params.get("only_redundant", False),
            undated_folder=params.get("undated_folder", "undated"),
            exclude_output=params.get("exclude_output", False),
        )


@dataclass
class OrganizeSummary:
    planned: int = 0
    done: int = 0
    present: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    sidecars: int = 0  # planned sidecars (counted in ``planned`` too)
    pairs: int = 0  # planned files that go with another (a RAW's JPEG, a Live Photo's video)
    rolled_back: int = 0
    kept: int = 0
    dry_run: bool = False
    cancelled: bool = False
    elapsed: float = 0.0
    folders: Counter[str] = field(default_factory=Counter)
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    resumed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned, "done": self.done, "already_present": self.present, "skipped": self.skipped,
            "failed": self.failed, "conflicts": self.conflicts, "sidecars": self.sidecars, "pairs": self.pairs,
            "rolled_back": self.rolled_back, "kept": self.kept,
            "dry_run": self.dry_run, "elapsed_seconds": round(self.elapsed, 3),
            "folders": dict(self.folders.most_common(100)), "skipped_reasons": dict(self.skipped_reasons),
            "resumed_jobs": self.resumed,
        }  # fmt: skip


# Checks ------------------------------------------------------------------------------------------------------------


def organize_check(catalog: Catalog, options: OrganizeOptions) -> str:
    """The output folder as a real absolute path, or OrganizeError saying why this run is refused."""
    if options.operation not in OPERATIONS:
        raise OrganizeError(f"unknown operation {options.operation!r}: choose {', '.join(OPERATIONS)}")
    if options.structure not in STRUCTURES:
        raise OrganizeError(f"unknown structure {options.structure!r}: choose {', '.join(STRUCTURES)}")
    if options.naming not in NAMINGS:
        raise OrganizeError(f"unknown naming strategy {options.naming!r}: choose {', '.join(NAMINGS)}")
    if options.undated_folder is not None and (
        not options.undated_folder or os.sep in options.undated_folder or options.undated_folder in (".", "..")
    ):
        raise OrganizeError(f"the undated folder must be a plain folder name, got {options.undated_folder!r}")
    if not os.path.isabs(options.output):
        raise OrganizeError(f"the output folder must be an absolute path, got {options.output!r}")
    output = os.path.realpath(options.output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise OrganizeError(f"the output {output} exists and is not a folder")
    catalog_folder = os.path.realpath(catalog.path)
    if is_inside(output, catalog_folder):
        raise OrganizeError(f"the output {output} is inside the catalog folder {catalog_folder}")
    excluded = [os.path.realpath(path) for path in catalog.exclude_directories or []]
    for source in map(os.path.realpath, catalog.source_directories or []):
        if is_inside(source, output):
            raise OrganizeError(f"the source folder {source} is inside the output {output}: choose another output")
        if is_inside(output, source) and not inside_any(output, excluded) and not options.exclude_output:
            raise OrganizeError(
                f"the output {output} is inside the source folder {source}: the next analyze would catalog the "
                "organized copies again. Choose another output, or leave it out of later scans (organize "
                '--exclude-output, the form\'s "leave it out of later scans", or analyze … --exclude DIR)'
            )
    if options.operation == Operation.MOVE and catalog.last_analyzed_at is None:
        raise OrganizeError("this catalog has never been analyzed: run analyze before a move")
    if options.operation == Operation.MOVE and not options.verify:
        raise OrganizeError("a move always verifies checksums before it removes a source: verification stays on")
    if options.roots is not None:
        if not really_inside_any(output, options.roots):
            raise OrganizeError(f"the output {output} is outside the library roots")
        outside = [path for path in catalog.source_directories or [] if not really_inside_any(path, options.roots)]
        if outside:
            raise OrganizeError(
                f"this catalog's source folder {outside[0]} is outside the library roots: organize it from the "
                "command line"
            )
    return output


# Planning ----------------------------------------------------------------------------------------------------------


def reliable_date(asset: Asset) -> bool:
    return (
        asset.taken_at is not None
        and not asset.date_suspicious
        and asset.date_source != "mtime"
        and (asset.date_confidence or 0) >= MIN_DATE_CONFIDENCE
    )


def target_path(asset: Asset, output: str, options: OrganizeOptions) -> str | None:
    """Where the plan files an asset, before conflicts; None when it has no reliable date and undated files are
    skipped. Dates are the camera's wall-clock time as stored: never converted to another zone."""
    name = os.path.basename(asset.path)
    stem, extension = os.path.splitext(name)
    if not reliable_date(asset):
        if options.undated_folder is None:
            return None
        stamped = f"{asset.sha256}{extension}" if options.naming == "checksum" else name
        return os.path.join(output, options.undated_folder, stamped)
    taken = asset.taken_at
    assert taken is not None
    folder = taken.strftime(STRUCTURES[options.structure]) if STRUCTURES[options.structure] else ""
    stamp = taken.strftime("%Y-%m-%d_%H%M%S")
    names = {
        "date_time_checksum": f"{stamp}_{asset.sha256[:8]}{extension}",
        "date_time_original": f"{stamp}_{stem}{extension}",
        "original": name,
        "checksum": f"{asset.sha256}{extension}",
    }
    return os.path.join(output, folder, names[options.naming])


def _already_in_place(path: str, planned: str) -> bool:
    """Whether ``path`` is ``planned`` or one of its suffixed names (an earlier move put it there)."""
    if os.path.dirname(path) != os.path.dirname(planned):
        return False
    stem, extension = os.path.splitext(os.path.basename(planned))
    pattern = re.escape(stem) + r"(_\d{3,4})?" + re.escape(extension)
    return re.fullmatch(pattern, os.path.basename(path)) is not None


def _redundant_copies(catalog: Catalog) -> dict[int, str]:
    """Asset id → the primary's path, for every member of an exact group that is not its primary."""
    members = DuplicateMember.objects.filter(
        group__catalog=catalog, group__kind=GroupKind.EXACT, group__primary__isnull=False
    ).values_list("asset_id", "group__primary_id", "group__primary__path")
    return {asset: path for asset, primary, path in members if asset != primary}


def _plan(
    catalog: Catalog, job: Job, output: str, options: OrganizeOptions, reporter: ProgressReporter
) -> OrganizeSummary:
    summary = OrganizeSummary(dry_run=options.dry_run)
    planner = _Planner(catalog, job, output, options)
    assets = catalog.assets.order_by("path")
    if options.only_redundant:
        copies = DuplicateMember.objects.filter(
            group__catalog=catalog, group__kind=GroupKind.EXACT, group__primary__isnull=False
        ).exclude(asset_id=F("group__primary_id"))
        assets = assets.filter(pk__in=copies.values("asset_id"))
    total = assets.count()
    steps: list[OrganizeStep] = []
    reporter.update(phase="plan", current=0, total=total, message="")
    for index, asset in enumerate(assets.iterator(chunk_size=2000), start=1):
        reporter.update(phase="plan", current=index, total=total, message=os.path.basename(asset.path))
        if asset.pk not in planner.following:
            steps += planner.unit(asset, summary)
        if len(steps) >= PLAN_BATCH:
            _save_steps(steps)
            steps = []
        if reporter.is_cancelled():
            summary.cancelled = True
            break
    changed = planner.changed
    if changed or summary.cancelled:
        OrganizeStep.objects.filter(job=job).delete()
    if changed:
        listed = "; ".join(changed[:REFUSED_LISTED]) + (f"; and {len(changed) - REFUSED_LISTED} more" if len(
            changed) > REFUSED_LISTED else "")  # fmt: skip
        raise OrganizeError(
            f"refusing to move: {counted(len(changed), 'file')} changed since the last scan (size or modification time "
            f"differ): {listed}. Run analyze again first."
        )
    if not summary.cancelled:
        _save_steps(steps)
        # The plan is complete: its steps become PLANNED together, in one statement. A plan cut short by a crash
        # stays DRAFT, which nothing executes. What older runs planned and never started is replaced by it.
        with transaction.atomic():
            OrganizeStep.objects.filter(job=job, state=StepState.DRAFT).update(state=StepState.PLANNED)
            if not options.dry_run:
                older = OrganizeStep.objects.filter(job__catalog=catalog).exclude(job=job)
                older.filter(state=StepState.PLANNED).update(
                    state=StepState.SKIPPED, reason=f"superseded by job {job.pk}"
                )
                older.filter(state=StepState.DRAFT).delete()
    return summary


def _save_steps(steps: list[OrganizeStep]) -> None:
    """Insert a batch of steps; a group's followers point at its lead, saved first (Postgres and SQLite give the
    inserted ids back)."""
    leads = [step for step in steps if step.follows is None]
    OrganizeStep.objects.bulk_create(leads)
    for step in steps:
        if step.follows is not None:
            step.follows_id = step.follows.pk
    OrganizeStep.objects.bulk_create([step for step in steps if step.follows is not None])


@dataclass
class _Member:
    """One file of a group being planned: a media file or a sidecar, and the tail its name takes after the lead's
    stem (``.JPG`` for the JPEG of a RAW, ``.CR2.xmp`` for the RAW's XMP)."""

    step: OrganizeStep
    tail: str


class _Planner:
    """Plans each asset with the files that go with it (its sidecars, the other file of a pair and its sidecars)
    as one group: they take one name stem, so that the next scan links them again, and a move takes all or none."""

    def __init__(self, catalog: Catalog, job: Job, output: str, options: OrganizeOptions) -> None:
        self.job, self.output, self.options = job, output, options
        self.redundant = _redundant_copies(catalog) if options.skip_duplicates else {}
        self.sidecars: dict[int, list[Sidecar]] = {}
        for sidecar in Sidecar.objects.filter(asset__catalog=catalog).order_by("asset_id", "path").iterator(2000):
            self.sidecars.setdefault(sidecar.asset_id, []).append(sidecar)
        self.companions: dict[int, list[Asset]] = {}
        if not options.only_redundant:  # a redundant copy moves alone: the file it copies stays with the pair
            for companion in catalog.assets.filter(paired_with__isnull=False).order_by("path").iterator(2000):
                self.companions.setdefault(companion.paired_with_id or 0, []).append(companion)
        self.following = {companion.pk for group in self.companions.values() for companion in group}
        self.taken: dict[str, OrganizeStep] = {}  # planned target → the step planned to write it
        self.digests: dict[str, tuple[str, int]] = {}  # sidecar path → sha256 and size, read when a name is taken
        self.listings: dict[str, dict[str, set[str]]] = {}  # target folder → its names by prefix (``_listing``)
        self.changed: list[str] = []
        self.seq = 0

    def _step(self, asset: Asset | None, source: str, **fields: Any) -> OrganizeStep:
        self.seq += 1
        return OrganizeStep(job=self.job, seq=self.seq, asset=asset, operation=self.options.operation, source=source,
                            **fields)  # fmt: skip

    def _media_step(self, asset: Asset) -> OrganizeStep:
        step = self._step(asset, asset.path, sha256=asset.sha256, size=asset.size, mtime_ns=asset.mtime_ns)
        step.reason = _skip_reason(asset, self.redundant, self.options) or _path_reason(
            asset.path, self.options.operation, self.options.roots
        )
        if not step.reason:
            change = _changed_since_scan(asset)
            if change and self.options.operation == Operation.MOVE:
                self.changed.append(f"{asset.path} ({change})")
            elif change:
                step.reason = f"{change} since the last scan: analyze again"
        return step

    def _sidecar_steps(self, asset: Asset, new_name: str) -> list[tuple[OrganizeStep, str]]:
        """The steps of an asset's sidecars, each with the name it takes beside the asset renamed ``new_name``."""
        members = []
        for sidecar in self.sidecars.get(asset.pk, []):
            step = self._step(None, sidecar.path, kind=StepKind.SIDECAR, size=sidecar.size, mtime_ns=sidecar.mtime_ns)
            if not os.path.lexists(sidecar.path):
                step.reason = "vanished since the last scan"
            else:
                step.reason = _path_reason(sidecar.path, self.options.operation, self.options.roots)
            renamed = renamed_sidecar(os.path.basename(asset.path), os.path.basename(sidecar.path), new_name)
            members.append((step, renamed))
        return members

    def unit(self, lead_asset: Asset, summary: OrganizeSummary) -> list[OrganizeStep]:
        """The steps of one asset and the files that go with it, the lead first; counted into ``summary``."""
        options = self.options
        lead = self._media_step(lead_asset)
        target = None if lead.reason else target_path(lead_asset, self.output, options)
        if not lead.reason and target is None:
            lead.reason = "no reliable capture date (undated files are skipped)"
        if target is not None and _already_in_place(lead_asset.path, target):
            lead.reason, lead.target = "already in place", lead_asset.path
        planned_name = os.path.basename(target or lead_asset.path)
        stem = os.path.splitext(planned_name)[0]
        members = [_Member(lead, planned_name[len(stem) :])]
        for step, renamed in self._sidecar_steps(lead_asset, planned_name):
            members.append(_Member(step, renamed[len(stem) :]))
        for companion in self.companions.get(lead_asset.pk, []):
            step = self._media_step(companion)
            extension = os.path.splitext(companion.path)[1]
            members.append(_Member(step, extension))
            for sidecar, renamed in self._sidecar_steps(companion, stem + extension):
                members.append(_Member(sidecar, renamed[len(stem) :]))
        self._settle(members, target, summary)
        return [member.step for member in members]

    def _settle(self, members: list[_Member], target: str | None, summary: OrganizeSummary) -> None:
        """Skip what cannot go, name what can, and count it all."""
        lead = members[0].step
        followers = members[1:]
        moving = self.options.operation == Operation.MOVE
        for member in followers:
            member.step.follows = lead
            member.step.name_tail = member.tail
        # A move takes a group whole or not at all: a file left behind would be cut off from the others. A copy
        # or a hard link leaves the originals together, so it takes the files it can.
        blocker = next((m.step for m in followers if m.step.reason and not _nothing_to_carry(m.step)), None)
        if not lead.reason and moving and blocker is not None:
            lead.reason = f"goes with {os.path.basename(blocker.source)}, which cannot be moved: {blocker.reason}"
        if lead.reason:
            for member in followers:
                member.step.reason = member.step.reason or (
                    f"goes with {os.path.basename(lead.source)}: "
                    + ("not moved" if moving else "skipped") + f" ({lead.reason})"
                )  # fmt: skip
        going = [member for member in members if not member.step.reason]
        if going:
            assert target is not None
            self._name(going, target)
        for member in members:
            step = member.step
            if step.reason:
                step.state = StepState.SKIPPED
                summary.skipped += 1
                summary.skipped_reasons[_reason_kind(step.reason)] += 1
            else:
                step.state = StepState.DRAFT
                summary.planned += 1
                summary.conflicts += step.conflict
                summary.present += step.already_present
                summary.sidecars += step.kind == StepKind.SIDECAR
                summary.pairs += step.kind == StepKind.MEDIA and step.follows is not None
                summary.folders[os.path.relpath(os.path.dirname(step.target), self.output)] += 1

    def _name(self, going: list[_Member], target: str) -> None:
        """The first name stem under which every file of the group is free, neither planned nor on disk for
        another content (True ``already_present`` where it holds this content already, copies and links only)."""
        share = self.options.operation != Operation.MOVE
        folder = os.path.dirname(target)
        for candidate in safefs.name_candidates(target):
            stem = os.path.splitext(os.path.basename(candidate))[0]
            names = [os.path.join(folder, stem + member.tail) for member in going]
            present = [self._holds_already(name, member.step, share) for name, member in zip(names, going, strict=True)]
            # Where the lead's name holds this content already, the files of that stem go with it already.
            if None in present or (not present[0] and not self._stem_clear(folder, stem, names)):
                continue
            listed = self._listing(folder)
            for name, member, there in zip(names, going, present, strict=True):
                member.step.target, member.step.already_present = name, bool(there)
                member.step.conflict = candidate != target
                self.taken[name] = member.step
                _index_name(listed, os.path.basename(name))
            return
        raise OrganizeError(f"no free name for {target}: {safefs.MAX_SUFFIX} suffixes taken")

    def _stem_clear(self, folder: str, stem: str, names: list[str]) -> bool:
        """Whether no other file of the folder, on disk or planned, is named ``stem.…`` (in any case): the next scan
        would take it for a sidecar or the other file of a pair of this group (``IMG_0001.CR2`` of one camera beside
        ``IMG_0001.JPG`` of another)."""
        ours = {os.path.basename(name) for name in names}
        return all(other in ours for other in self._listing(folder).get(stem.lower(), ()))

    def _listing(self, folder: str) -> dict[str, set[str]]:
        """The folder's names by each lower-case prefix before a dot (``a.b.jpg``: ``a`` and ``a.b``), listed once."""
        if folder not in self.listings:
            index: dict[str, set[str]] = {}
            try:
                entries = os.listdir(folder)
            except OSError:
                entries = []
            for name in entries:
                _index_name(index, name)
            self.listings[folder] = index
        return self.listings[folder]

    def _holds_already(self, name: str, step: OrganizeStep, share: bool) -> bool | None:
        """False: ``name`` is free for this file; True: it holds the same content already (and may be shared);
        None: taken."""
        planned = self.taken.get(name)
        if planned is None and not os.path.lexists(name):
            return False
        if not share:
            return None
        digest, size = self._content(step)
        if planned is not None:
            return True if digest and self._content(planned)[0] == digest else None
        return True if digest and safefs.holds(name, digest, size) else None

    def _content(self, step: OrganizeStep) -> tuple[str, int]:
        """``_content_of``, read once per sidecar for the whole plan."""
        if step.sha256:
            return step.sha256, step.size
        if step.source not in self.digests:
            self.digests[step.source] = _content_of(step)
        return self.digests[step.source]


def _index_name(index: dict[str, set[str]], name: str) -> None:
    for at, character in enumerate(name):
        if character == "." and at:
            index.setdefault(name[:at].lower(), set()).add(name)


def _nothing_to_carry(step: OrganizeStep) -> bool:
    """A file of a group whose skip loses nothing: a sidecar or companion no longer there."""
    return step.reason.startswith(("vanished", "missing"))


def _skip_reason(asset: Asset, redundant: dict[int, str], options: OrganizeOptions) -> str:
    if asset.status == AssetStatus.MISSING:
        return "missing since the last scan"
    if not asset.sha256:
        return f"could not be read: {asset.problem_message or asset.problem_kind or 'no checksum'}"
    if asset.pk in redundant:
        return f"duplicate of {redundant[asset.pk]}"
    return ""


def _path_reason(path: str, operation: str, roots: list[str] | None) -> str:
    if operation != Operation.COPY and os.path.islink(path):
        return "a symbolic link: organize the file it points to instead"
    if roots is not None and not really_inside_any(path, roots):
        return "outside the library roots (through a symbolic link)"
    return ""


def _reason_kind(reason: str) -> str:
    """The reason without the file-specific part, for counting."""
    for prefix in ("duplicate of", "could not be read", "changed", "vanished", "a symbolic link", "outside the",
                   "goes with"):  # fmt: skip
        if reason.startswith(prefix):
            return prefix
    return reason


def _changed_since_scan(asset: Asset) -> str:
    try:
        stat = os.stat(asset.path)
    except FileNotFoundError:
        return "vanished"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if (stat.st_size, stat.st_mtime_ns) != (asset.size, asset.mtime_ns):
        return "changed"
    return ""


# Executing ---------------------------------------------------------------------------------------------------------


class _Executor:
    """Drives steps through the protocol. One per run; ``pause`` widens the windows for fault-injection tests."""

    def __init__(self, journal: Job, verify: bool) -> None:
        self.journal = journal
        self.verify = verify
        self.output = os.path.realpath(journal.params.get("output_directory") or "/")
        self.pause = float(getattr(settings, "VAM_ORGANIZE_PAUSE", 0.0) or 0.0)
        self.move_by_link = getattr(settings, "VAM_ORGANIZE_MOVE_BY_LINK", True)
        self._verified_here: set[int] = set()  # steps whose temporary file this run copied and verified
        self._placed_here: set[int] = set()  # steps this run verified and linked itself: no second read
        self._followers: list[OrganizeStep] = []  # the other files of the group the lead being run names

    def _wait(self) -> None:
        if self.pause:
            time.sleep(self.pause)

    def temp_for(self, step: OrganizeStep) -> str:
        return os.path.join(os.path.dirname(step.target), f".vam-{self.journal.pk.hex[:12]}-{step.seq}.part")

    def record(self, step: OrganizeStep, state: str, **changes: Any) -> None:
        """Commit the step's new state (and fields) before the file system change that follows."""
        for name, value in changes.items():
            setattr(step, name, value)
        step.state = state
        OrganizeStep.objects.filter(pk=step.pk).update(state=state, **changes)

    def run_group(self, group: list[OrganizeStep]) -> None:
        """Finish a lead and the files that go with it (``_groups``), each from whatever state it is in.

        A move takes its group whole: every file is placed (verified at its target, source still there) before any
        source is removed, the followers' first and the lead's last, so a lead done means its group is done. When a
        file of the group fails before that, the others are taken back out of the output and nothing is moved.
        """
        lead, followers = group[0], group[1:]
        moving = lead.operation == Operation.MOVE
        self._followers = followers
        try:
            self._run_group(lead, followers, moving)
        finally:
            self._followers = []

    def _run_group(self, lead: OrganizeStep, followers: list[OrganizeStep], moving: bool) -> None:
        group = [lead, *followers]
        self.run(lead, hold=moving)
        if lead.state not in (StepState.PLACED, StepState.DONE):
            why = lead.reason or lead.get_state_display().lower()
            reason = f"goes with {os.path.basename(lead.source)}, which was not organized: {why}"
            return self._unwind(group, reason)
        for step in followers:
            if step.state not in FINAL:
                self.run(step, hold=moving, lead=lead)
        if not moving:
            return None
        failed = next((step for step in followers if step.state == StepState.FAILED), None)
        if failed is not None:
            reason = f"not moved: {os.path.basename(failed.source)}, which goes with it, failed ({failed.reason})"
            return self._unwind(group, reason)
        for step in [*followers, lead]:
            if step.state == StepState.PLACED:
                self.run(step)
        return None

    def _unwind(self, group: list[OrganizeStep], reason: str) -> None:
        """Take the files of a group that is not moved whole back out of the output; their sources never left."""
        for step in reversed(group):
            if step.state in FINAL:
                continue
            try:
                if step.temp:
                    safefs.remove_if_present(step.temp)
                if step.state == StepState.PLACED and not step.already_present and _is_ours(step):
                    safefs.remove_durably(step.target)
            except OSError as exc:
                logger.warning("organize: cannot take %s back out of the output: %s", step.target, exc)
            logger.warning("organize step %s failed: %s", step, reason)
            self.record(step, StepState.FAILED, reason=reason[:2000])

    def run(self, step: OrganizeStep, *, hold: bool = False, lead: OrganizeStep | None = None) -> None:
        """Finish one step from whatever state it is in (``hold``: a move's up to PLACED, its source still there);
        a failure is recorded on the step, never raised. A follower takes its name from ``lead``."""
        try:
            if lead is not None and step.state == StepState.PLANNED:
                step.target = os.path.join(
                    os.path.dirname(lead.target), os.path.splitext(os.path.basename(lead.target))[0] + step.name_tail
                )
            self._advance(step, hold)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            self._fail(step, _os_message(exc) + where)
        except OrganizeError as exc:
            self._fail(step, str(exc))

    def _fail(self, step: OrganizeStep, reason: str) -> None:
        if step.temp and step.state in (StepState.STARTED, StepState.VERIFIED):
            try:
                safefs.remove_if_present(step.temp)
            except OSError:
                pass
        logger.warning("organize step %s failed: %s", step, reason)
        self.record(step, StepState.FAILED, reason=reason[:2000])

    def _advance(self, step: OrganizeStep, hold: bool = False) -> None:
        while step.state not in FINAL and not (hold and step.state == StepState.PLACED):
            if step.state == StepState.PLANNED:
                self._begin(step)
            elif step.state == StepState.STARTED:
                self._copy(step)
            elif step.state == StepState.VERIFIED:
                self._place(step)
            elif step.state == StepState.PLACED:
                self._finish_move(step)

    def _begin(self, step: OrganizeStep) -> None:
        try:
            stat = os.stat(step.source)
        except FileNotFoundError:
            if step.follows_id is not None:  # a sidecar or companion gone: nothing of it to carry
                return self.record(step, StepState.SKIPPED, reason="vanished since the plan")
            raise OrganizeError(f"the source vanished since the plan: {step.source}") from None
        fresh: dict[str, Any] = {"target": step.target}
        if step.kind == StepKind.SIDECAR:  # carried as it is now (edited since the scan or not): the next scan reads it
            fresh |= {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": safefs.sha256_file(step.source)}
            for name, value in fresh.items():
                setattr(step, name, value)
        elif (stat.st_size, stat.st_mtime_ns) != (step.size, step.mtime_ns):
            raise OrganizeError(f"the source changed since the last scan (analyze again): {step.source}")
        folder = os.path.dirname(step.target)
        safefs.make_dirs(folder)
        if not is_inside(os.path.realpath(folder), self.output):
            raise OrganizeError(f"the target folder {folder} leads out of the output {self.output} (a symbolic link)")
        if step.operation == Operation.HARDLINK:
            if self.verify and safefs.sha256_file(step.source) != step.sha256:
                raise OrganizeError(f"the source's content differs from the catalog's (analyze again): {step.source}")
            return self._choose(step, step.source)
        return self.record(step, StepState.STARTED, temp=self.temp_for(step), **fresh)

    def _copy(self, step: OrganizeStep) -> None:
        safefs.remove_if_present(step.temp)  # a partial copy from before a crash
        if not os.path.lexists(step.source):
            raise OrganizeError(f"the source vanished: {step.source}")
        if not (step.operation == Operation.MOVE and self.move_by_link and self._link_copy(step)):
            safefs.copy_durably(step.source, step.temp)
        self._wait()
        if self.verify and safefs.sha256_file(step.temp) != step.sha256:
            safefs.remove_if_present(step.temp)
            raise OrganizeError(
                f"the copy of {step.source} does not match the catalog's checksum (the file changed, or a disk "
                "error): analyze again"
            )
        self._verified_here.add(step.pk)
        self._choose(step, step.temp)

    def _link_copy(self, step: OrganizeStep) -> bool:
        """A move within one file system: the temporary name is a hard link to the source, so no byte is copied
        and the file is never in fewer than one place. False when the file systems differ (or have no links)."""
        try:
            os.link(step.source, step.temp, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, *safefs.NO_HARDLINKS):
                return False
            raise
        safefs.fsync_dir(os.path.dirname(step.temp))
        return True

    def _choose(self, step: OrganizeStep, placing: str) -> None:
        """Record the name ``placing`` (the verified temporary file, or a hard link's source) will take, and
        which file it is, before it takes it."""
        name, present = self._claim(step) if step.follows_id is not None else self._free_group_name(step)
        device, inode = safefs.identity(placing) or (None, None)
        self.record(step, StepState.VERIFIED, target=name, already_present=present, file_device=device,
                    file_inode=inode, sha256=step.sha256, conflict=step.conflict or name != step.target)  # fmt: skip
        self._wait()

    def _free_group_name(self, lead: OrganizeStep) -> tuple[str, bool]:
        """The lead's name: the first candidate whose stem is free for every file of its group (or holds the same
        content, for a copy or a link); fixed when a follower is placed already (a resumed group)."""
        share = lead.operation != Operation.MOVE
        begun = (StepState.STARTED, StepState.VERIFIED, StepState.PLACED, StepState.DONE)
        placed = next((step for step in self._followers if step.state in begun), None)
        if placed is not None:
            stem = os.path.basename(placed.target)[: -len(placed.name_tail) or None]
            extension = os.path.splitext(lead.target)[1]
            candidates: Iterable[str] = [os.path.join(os.path.dirname(placed.target), stem + extension)]
        else:
            candidates = safefs.name_candidates(lead.target)
        for candidate in candidates:
            present = _free_or_same(candidate, lead.sha256, lead.size, share)
            if present is None:
                continue
            stem = os.path.splitext(os.path.basename(candidate))[0]
            folder = os.path.dirname(candidate)
            if all(
                _free_or_same(os.path.join(folder, stem + step.name_tail), *_content_of(step), share) is not None
                for step in self._followers
                if step.state == StepState.PLANNED
            ):
                return candidate, present
        raise OrganizeError(f"no free name for {lead.target} and the files that go with it")

    def _claim(self, step: OrganizeStep) -> tuple[str, bool]:
        """A follower's name is its lead's stem with its own tail: free, or holding this content (not for a move)."""
        present = _free_or_same(step.target, step.sha256, step.size, step.operation != Operation.MOVE)
        if present is None:
            raise OrganizeError(f"{step.target} was taken by another file while its group was organized")
        return step.target, present

    def _place(self, step: OrganizeStep) -> None:
        folder = os.path.dirname(step.target)
        if step.operation == Operation.HARDLINK:
            return self._place_link(step, folder)
        linked = False
        if os.path.lexists(step.temp):
            if step.already_present:
                if not safefs.holds(step.target, step.sha256, step.size):
                    return self._choose(step, step.temp)  # no longer the same content: another name
            elif not safefs.same_file(step.temp, step.target):
                if os.path.lexists(step.target):
                    return self._choose(step, step.temp)  # taken since: another name
                try:
                    safefs.link_no_replace(step.temp, step.target)
                except FileExistsError:
                    return self._choose(step, step.temp)
                safefs.fsync_dir(folder)
                linked = True
            if os.path.lexists(step.temp):
                safefs.remove_durably(step.temp)
        elif not self._is_ours_and_intact(step):
            self.record(step, StepState.STARTED)  # the copy is gone and not in place: copy again
            return None
        self._wait()
        if step.operation == Operation.MOVE:
            if linked and step.pk in self._verified_here:
                self._placed_here.add(step.pk)
            return self.record(step, StepState.PLACED)
        return self.record(step, StepState.DONE)

    def _place_link(self, step: OrganizeStep, folder: str) -> None:
        if not step.already_present and not safefs.same_file(step.source, step.target):
            if os.path.lexists(step.target):
                return self._choose(step, step.source)  # taken since: another name
            try:
                safefs.link_no_replace(step.source, step.target, rename=False)
            except FileExistsError:
                return self._choose(step, step.source)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    raise OrganizeError(
                        f"a hard link needs its source and the output on one file system: {step.source}"
                    ) from None
                if exc.errno in safefs.NO_HARDLINKS:
                    raise OrganizeError(
                        f"this file system cannot hard-link {step.source} (no hard links, or a protected file): "
                        "use copy"
                    ) from None
                raise
            safefs.fsync_dir(folder)
        return self.record(step, StepState.DONE)

    def _is_ours_and_intact(self, step: OrganizeStep) -> bool:
        """Whether the target is the file this step recorded (or, when already present, the same content)."""
        if step.already_present:
            return safefs.holds(step.target, step.sha256, step.size)
        return _is_ours(step) and safefs.holds(step.target, step.sha256, step.size)

    def _finish_move(self, step: OrganizeStep) -> None:
        if step.temp and os.path.lexists(step.temp):
            safefs.remove_durably(step.temp)
        if step.pk in self._placed_here:  # copied, verified and linked by this very run a moment ago
            in_place = safefs.identity(step.target) == (step.file_device, step.file_inode)
        else:  # found PLACED by a resume: check the file and its content before the source goes
            in_place = self._is_ours_and_intact(step)
        if not in_place:
            if os.path.lexists(step.source):
                return self.record(step, StepState.PLANNED, already_present=False)  # redo it from the start
            raise OrganizeError(
                f"{step.source} is gone and {step.target} is not the verified copy any more (changed or replaced "
                "outside VAM): nothing was removed"
            )
        if os.path.lexists(step.source):
            stat = os.lstat(step.source)
            if (stat.st_size, stat.st_mtime_ns) != (step.size, step.mtime_ns):
                raise OrganizeError(
                    f"the source changed while it was moved: both {step.source} and {step.target} are kept"
                )
            os.unlink(step.source)
            try:
                safefs.fsync_dir(os.path.dirname(step.source))
            except OSError:
                logger.warning("cannot fsync %s after removing %s", os.path.dirname(step.source), step.source)
        with transaction.atomic():
            self.record(step, StepState.DONE)
            _repoint(self.journal, step, step.source, step.target)
        return None


def _is_ours(step: OrganizeStep) -> bool:
    """Whether the file at the step's target is the very file the step recorded putting there."""
    return step.file_inode is not None and safefs.identity(step.target) == (step.file_device, step.file_inode)


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def _free_or_same(name: str, sha256: str, size: int, share: bool) -> bool | None:
    """False: ``name`` is free; True: it holds this content and may be shared; None: taken."""
    if not os.path.lexists(name):
        return False
    return True if share and sha256 and safefs.holds(name, sha256, size) else None


def _content_of(step: OrganizeStep) -> tuple[str, int]:
    """A file's sha256 and size: recorded for a media file, read now for a sidecar not begun yet."""
    if step.sha256:
        return step.sha256, step.size
    try:
        return safefs.sha256_file(step.source), os.path.getsize(step.source)
    except OSError:
        return "", 0


def _repoint(journal: Job, step: OrganizeStep, old: str, new: str) -> None:
    """Point the catalog at the path a moved file now has: its asset, or the sidecar row of that path."""
    if step.kind == StepKind.SIDECAR:
        Sidecar.objects.filter(asset__catalog_id=journal.catalog_id or 0, path=old).update(path=new)
    elif step.asset_id:
        _repoint_asset(step.asset_id, old, new)


def _repoint_asset(asset_id: int, old: str, new: str) -> None:
    """Point an asset at the path its file now has. Another row at that path is never touched (a move never
    shares a name, see ``_Planner._name``): then the asset keeps its old path, and the next analyze sorts it out."""
    asset = Asset.objects.filter(pk=asset_id, path=old).first()
    if asset is None:
        return
    if Asset.objects.filter(catalog_id=asset.catalog_id, path=new).exclude(pk=asset_id).exists():
        logger.warning("asset %s: %s is another asset's path; its row keeps %s", asset_id, new, old)
        return
    Asset.objects.filter(pk=asset_id).update(path=new)


def _execute(journal: Job, steps, verify: bool, reporter: ProgressReporter, summary: OrganizeSummary) -> None:
    executor = _Executor(journal, verify)
    groups = _groups(list(steps))
    total = sum(len(group) for group in groups)
    reporter.update(phase="execute", current=0, total=total, message="")
    current = 0
    for group in groups:
        if reporter.is_cancelled():
            summary.cancelled = True
            break
        pending = [step for step in group if step.state not in FINAL]
        executor.run_group(group)
        summary.failed += sum(step.state == StepState.FAILED for step in pending)
        summary.done += sum(step.state == StepState.DONE for step in pending)
        current += len(pending)
        reporter.update(phase="execute", current=current, total=total, message=os.path.basename(group[0].source))


def _groups(steps: list[OrganizeStep]) -> list[list[OrganizeStep]]:
    """Steps (in seq order) gathered by group: each lead first, then the steps that follow it. A lead that is not
    among ``steps`` (ended already) is read, for its name."""
    groups: dict[int, list[OrganizeStep]] = {}
    for step in steps:
        groups.setdefault(step.follows_id or step.pk, []).append(step)
    absent = [key for key, group in groups.items() if group[0].pk != key]
    leads = OrganizeStep.objects.in_bulk(absent)
    for key in absent:
        groups[key].insert(0, leads[key])
    return list(groups.values())


def _remove_leftovers(journal: Job) -> None:
    """Temporary files of steps that ended (a crash between their last two writes) go."""
    for temp in (
        OrganizeStep.objects.filter(job=journal, state__in=FINAL).exclude(temp="").values_list("temp", flat=True)
    ):
        try:
            safefs.remove_if_present(temp)
        except OSError:
            pass


def _unfinished_groups(journal: Job) -> Q:
    """The steps of the journal's groups that a crash left half done: a step in flight, or a follower not begun
    whose lead is done (a copy), with the other steps of those groups not ended yet."""
    steps = journal.organize_steps
    begun = Q(state__in=IN_FLIGHT) | Q(state=StepState.PLANNED, follows__state=StepState.DONE)
    keys = {follows or pk for pk, follows in steps.filter(begun).values_list("pk", "follows_id")}
    return (Q(pk__in=keys) | Q(follows_id__in=keys)) & ~Q(state__in=FINAL)


def _finish_in_flight(catalog: Catalog, summary: OrganizeSummary, reporter: ProgressReporter) -> None:
    """Steps that earlier organize runs of this catalog left mid-protocol (their worker died) are finished first,
    with the files of their groups."""
    begun = Q(organize_steps__state__in=IN_FLIGHT) | Q(
        organize_steps__state=StepState.PLANNED, organize_steps__follows__state=StepState.DONE
    )
    journals = Job.objects.filter(begun, catalog=catalog).distinct()
    for journal in journals:
        steps = journal.organize_steps.filter(_unfinished_groups(journal)).order_by("seq")
        _execute(journal, steps, journal.params.get("verify_checksums", True), reporter, summary)
        _remove_leftovers(journal)
        summary.resumed.append(str(journal.pk))


@with_catalog_lock
def catalog_organize(
    *, catalog: Catalog, job: Job, options: OrganizeOptions, reporter: ProgressReporter | None = None
) -> OrganizeSummary:
    """Plan (and unless ``dry_run``, execute) filing the catalog's assets into ``options.output``."""
    reporter = reporter or NullReporter()
    started = time.monotonic()
    output = organize_check(catalog, options)
    _belongs_to(job, catalog)
    summary = OrganizeSummary(dry_run=options.dry_run)
    if not options.dry_run:
        _finish_in_flight(catalog, summary, reporter)
    resumed = summary.resumed
    summary = _plan(catalog, job, output, options, reporter)
    summary.resumed = resumed
    if not options.dry_run and not summary.cancelled:
        if options.exclude_output:  # a plan refused or cancelled leaves the scans as they were
            _exclude_from_scans(catalog, output)
        summary.done = summary.failed = 0
        steps = job.organize_steps.filter(state=StepState.PLANNED).order_by("seq")
        _execute(job, steps, options.verify, reporter, summary)
        _remove_leftovers(job)
        _tally(job, summary)
        if options.operation == Operation.MOVE:
            pairs_stale(catalog)
    summary.elapsed = time.monotonic() - started
    reporter.update(phase="done", current=summary.planned, total=summary.planned)
    return summary


def _belongs_to(journal: Job, catalog: Catalog) -> None:
    """Record the catalog on a journal started without it (from the command line): the next organize finishes
    what it left in flight, and moved sidecars are found by catalog."""
    if journal.catalog_id is None:
        Job.objects.filter(pk=journal.pk).update(catalog=catalog)
        journal.catalog = catalog


def _exclude_from_scans(catalog: Catalog, output: str) -> None:
    """Leave an output inside a source folder out of the catalog's later scans, before any file lands there."""
    sources = [os.path.realpath(path) for path in catalog.source_directories or []]
    excluded = [os.path.realpath(path) for path in catalog.exclude_directories or []]
    if inside_any(output, sources) and not inside_any(output, excluded):
        catalog.exclude_directories = sorted({*(catalog.exclude_directories or []), output})
        catalog.save(update_fields=["exclude_directories", "updated_at"])


def _tally(journal: Job, summary: OrganizeSummary) -> None:
    """The journal's counts as they stand (for a resumed journal: over all its runs so far)."""
    rows = journal.organize_steps.values_list("state", "already_present").annotate(count=Count("id"))
    counts = {(state, present): count for state, present, count in rows.order_by()}
    summary.done = counts.get((StepState.DONE, False), 0)
    summary.present = counts.get((StepState.DONE, True), 0)
    summary.failed = sum(n for (state, _), n in counts.items() if state == StepState.FAILED)
    summary.skipped = sum(n for (state, _), n in counts.items() if state == StepState.SKIPPED)
    summary.planned = sum(n for (state, _), n in counts.items() if state != StepState.SKIPPED)


def web_may_touch(journal: Job, roots: list[str]) -> str:
    """Why a resume or rollback asked for through the web may not touch this journal's files ("" if it may)."""
    catalog = journal.catalog
    places = [journal.params.get("output_directory", ""), *(catalog.source_directories if catalog else [])]
    outside = [path for path in places if not path or not really_inside_any(path, roots)]
    return f"{outside[0] or 'its output'} is outside the library roots: use the command line" if outside else ""


def journal_of(job: Job) -> Job:
    """The organize job whose steps a resume or rollback job works on (following resumes of resumes)."""
    seen = set()
    while job.kind == JobKind.ORGANIZE and not job.organize_steps.exists() and job.pk not in seen:
        seen.add(job.pk)
        parent = job.params.get("resume") or job.params.get("rollback")
        following = Job.objects.filter(pk=parent).first() if parent else None
        if following is None:
            break
        job = following
    return job


@with_catalog_lock
def organize_resume(*, catalog: Catalog, journal: Job, reporter: ProgressReporter | None = None) -> OrganizeSummary:
    """Finish an interrupted organize: every step not ended yet is finished or redone from the file system state,
    and leftover temporary files are removed."""
    reporter = reporter or NullReporter()
    started = time.monotonic()
    if not journal.organize_steps.exists():
        raise OrganizeError(f"job {journal.pk} has no organize plan to resume")
    if journal.params.get("dry_run"):
        raise OrganizeError(f"job {journal.pk} was a dry run: submit the organize again without --dry-run")
    if journal.organize_steps.filter(state=StepState.DRAFT).exists():
        raise OrganizeError(
            f"the plan of job {journal.pk} was cut short before it was complete, so nothing of it ran: "
            "submit the organize again"
        )
    _belongs_to(journal, catalog)
    summary = OrganizeSummary()
    steps = journal.organize_steps.exclude(state__in=FINAL).order_by("seq")
    _execute(journal, steps, journal.params.get("verify_checksums", True), reporter, summary)
    _remove_leftovers(journal)
    _tally(journal, summary)
    if journal.params.get("operation") == Operation.MOVE:
        pairs_stale(catalog)
    summary.resumed = [str(journal.pk)]
    summary.elapsed = time.monotonic() - started
    reporter.update(phase="done", current=summary.planned, total=summary.planned)
    return summary


# Rolling back ------------------------------------------------------------------------------------------------------


@with_catalog_lock
def organize_rollback(*, catalog: Catalog, journal: Job, reporter: ProgressReporter | None = None) -> OrganizeSummary:
    """Undo an organize in reverse order, by the operation each step logged.

    A target is removed only if it is the very file the step put there (its recorded inode), its content is
    intact, and nothing else relies on it (another job's step, or an asset at that path); a moved file is back
    at its source, verified, before its target goes. Steps already rolled back are left alone, so this can run
    twice; a step that cannot be undone safely keeps its state and says why.
    """
    reporter = reporter or NullReporter()
    started = time.monotonic()
    if not journal.organize_steps.exists():
        raise OrganizeError(f"job {journal.pk} has no organize journal to roll back")
    _belongs_to(journal, catalog)
    summary = OrganizeSummary()
    steps = list(
        journal.organize_steps.exclude(
            state__in=[StepState.DRAFT, StepState.PLANNED, StepState.SKIPPED, StepState.ROLLED_BACK]
        ).order_by("-seq")
    )
    folders: set[str] = set()
    reporter.update(phase="rollback", current=0, total=len(steps), message="")
    undo = _Undo(journal)
    for index, step in enumerate(steps, start=1):
        if reporter.is_cancelled():
            summary.cancelled = True
            break
        try:
            note = undo.step(step)
        except _Refused as refused:
            OrganizeStep.objects.filter(pk=step.pk).update(rollback_note=str(refused)[:2000])
            summary.kept += 1
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            note = f"could not roll back: {_os_message(exc)}{where}"
            OrganizeStep.objects.filter(pk=step.pk).update(rollback_note=note[:2000])
            summary.failed += 1
        else:
            summary.rolled_back += 1
            summary.kept += bool(note)
        if step.target:
            folders.add(os.path.dirname(step.target))
        reporter.update(phase="rollback", current=index, total=len(steps), message=os.path.basename(step.source))
    if not summary.cancelled:  # what never ran must not run after a rollback (a resume would)
        journal.organize_steps.filter(state=StepState.PLANNED).update(
            state=StepState.SKIPPED, reason="rolled back before it ran"
        )
    _remove_empty_folders(folders, journal.params.get("output_directory", ""))
    if journal.params.get("operation") == Operation.MOVE:
        pairs_stale(catalog)
    summary.elapsed = time.monotonic() - started
    return summary


class _Refused(Exception):
    """A step that rollback leaves as it is, on purpose; the message says what stays where."""


class _Undo:
    def __init__(self, journal: Job) -> None:
        self.journal = journal
        self.catalogs = list(Catalog.objects.values_list("pk", flat=True))

    def step(self, step: OrganizeStep) -> str:
        """Undo one step; returns a note when something was deliberately kept. Raises _Refused or OSError."""
        if step.temp:
            safefs.remove_if_present(step.temp)
        safefs.remove_if_present(self._rollback_temp(step))  # a copy back cut short by a crash
        undo = {Operation.COPY: self._copy, Operation.HARDLINK: self._hardlink, Operation.MOVE: self._move}
        note = undo[Operation(step.operation)](step)
        with transaction.atomic():
            OrganizeStep.objects.filter(pk=step.pk).update(state=StepState.ROLLED_BACK, rollback_note=note)
            if step.operation == Operation.MOVE:
                _repoint(self.journal, step, step.target, step.source)
        return note

    def _rollback_temp(self, step: OrganizeStep) -> str:
        return os.path.join(os.path.dirname(step.source), f".vam-rollback-{self.journal.pk.hex[:12]}-{step.seq}.part")

    def _relied_on(self, step: OrganizeStep) -> str:
        """Who else relies on the step's target: another job's step, or an asset (other than the step's own)."""
        other = (
            OrganizeStep.objects.filter(
                target=step.target, state__in=[StepState.VERIFIED, StepState.PLACED, StepState.DONE]
            )
            .exclude(pk=step.pk)
            .values_list("job_id", flat=True)
            .first()
        )
        if other is not None:
            return f"organize job {other} relies on it (roll that one back first)"
        for catalog_id in self.catalogs:
            asset = Asset.objects.filter(catalog_id=catalog_id, path=step.target).exclude(pk=step.asset_id or 0)
            if asset.exists():
                return "an asset of a catalog is at that path"
        return ""

    def _remove_target(self, step: OrganizeStep, *, wait_for_others: bool = True) -> str:
        """Remove the step's target if it is the step's own intact file that nothing else relies on.

        A target that another job relies on stays; with ``wait_for_others`` the step stays as it is too, so that
        a rollback once that job is rolled back removes it.
        """
        if step.already_present or not os.path.lexists(step.target) or not _is_ours(step):
            return ""  # not a file this step wrote
        if not safefs.holds(step.target, step.sha256, step.size):
            return f"kept {step.target}: it changed since it was organized"
        reason = self._relied_on(step)
        if reason and wait_for_others:
            raise _Refused(f"kept {step.target}: {reason}")
        if reason:
            return f"kept {step.target}: {reason}"
        safefs.remove_durably(step.target)
        return ""

    def _copy(self, step: OrganizeStep) -> str:
        return self._remove_target(step)

    def _hardlink(self, step: OrganizeStep) -> str:
        if _is_ours(step) and not os.path.lexists(step.source):
            return f"kept {step.target}: its source is gone, so it is the only copy"
        return self._remove_target(step)

    def _move(self, step: OrganizeStep) -> str:
        if os.path.lexists(step.source):
            if not safefs.holds(step.source, step.sha256, step.size):
                raise _Refused(
                    f"a different file now sits at {step.source}: the moved file stays at {step.target}, and the "
                    "catalog still points at it"
                )
            return self._remove_target(step)  # the source is intact (never removed, or already brought back)
        if not (_is_ours(step) or step.already_present) or not safefs.holds(step.target, step.sha256, step.size):
            state = "changed" if os.path.lexists(step.target) else "gone"
            raise _Refused(
                f"{step.source} is not there and {step.target} is {state} (moved, edited or deleted outside this "
                "job, or by a later organize: roll that one back first); nothing was touched"
            )
        self._bring_back(step)
        return self._remove_target(step, wait_for_others=False)  # the file is back: this step is undone

    def _bring_back(self, step: OrganizeStep) -> None:
        """Put the content back at the source path, verified, without ever replacing anything there."""
        folder = os.path.dirname(step.source)
        safefs.make_dirs(folder)
        if not step.already_present:
            try:
                os.link(step.target, step.source, follow_symlinks=False)  # one file system: the very same file
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, *safefs.NO_HARDLINKS):
                    raise
            else:
                safefs.fsync_dir(folder)
                return
        temp = self._rollback_temp(step)
        safefs.remove_if_present(temp)
        safefs.copy_durably(step.target, temp)
        if safefs.sha256_file(temp) != step.sha256:
            safefs.remove_if_present(temp)
            raise OSError(errno.EIO, "the copy back does not match the catalog's checksum", step.source)
        safefs.link_no_replace(temp, step.source)
        safefs.fsync_dir(folder)
        safefs.remove_if_present(temp)


def _remove_empty_folders(folders: set[str], output: str) -> None:
    """The folders organize made in the output and that rollback left empty go (the output itself stays)."""
    for folder in sorted(folders, key=len, reverse=True):
        current = folder
        while output and is_inside(current, output) and current != output:
            try:
                os.rmdir(current)
            except OSError:
                break
            current = os.path.dirname(current)
