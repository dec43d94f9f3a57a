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
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F

from catalog.media import safefs
from catalog.media.paths import inside_any, is_inside, really_inside_any
from catalog.media.progress import NullReporter, ProgressReporter
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
    StepState,
)
from catalog.services.locks import with_catalog_lock
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
            "failed": self.failed, "conflicts": self.conflicts, "rolled_back": self.rolled_back, "kept": self.kept,
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
    redundant = _redundant_copies(catalog) if options.skip_duplicates else {}
    with_sidecars = _with_sidecars(catalog) if options.operation == Operation.MOVE else {}
    roots = options.roots
    assets = catalog.assets.order_by("path")
    if options.only_redundant:
        copies = DuplicateMember.objects.filter(
            group__catalog=catalog, group__kind=GroupKind.EXACT, group__primary__isnull=False
        ).exclude(asset_id=F("group__primary_id"))
        assets = assets.filter(pk__in=copies.values("asset_id"))
    total = assets.count()
    taken: dict[str, str] = {}  # planned target → sha256
    changed: list[str] = []
    steps: list[OrganizeStep] = []
    reporter.update(phase="plan", current=0, total=total, message="")
    for index, asset in enumerate(assets.iterator(chunk_size=2000), start=1):
        reporter.update(phase="plan", current=index, total=total, message=os.path.basename(asset.path))
        step = OrganizeStep(job=job, seq=index, asset=asset, operation=options.operation, source=asset.path,
                            sha256=asset.sha256, size=asset.size, mtime_ns=asset.mtime_ns)  # fmt: skip
        step.reason = (
            _skip_reason(asset, redundant, options)
            or _path_reason(asset.path, options.operation, roots)
            or _sidecar_reason(with_sidecars.get(asset.pk))
        )
        target = None if step.reason else target_path(asset, output, options)
        if not step.reason and target is None:
            step.reason = "no reliable capture date (undated files are skipped)"
        if target is not None and _already_in_place(asset.path, target):
            step.reason, step.target = "already in place", asset.path
        if not step.reason:
            change = _changed_since_scan(asset)
            if change and options.operation == Operation.MOVE:
                changed.append(f"{asset.path} ({change})")
            elif change:
                step.reason = f"{change} since the last scan: analyze again"
        if step.reason:
            step.state = StepState.SKIPPED
            summary.skipped += 1
            summary.skipped_reasons[_reason_kind(step.reason)] += 1
        else:
            assert target is not None
            step.state = StepState.DRAFT
            step.target, step.already_present = _plan_name(target, asset, taken, options.operation)
            step.conflict = step.target != target
            summary.planned += 1
            summary.conflicts += step.conflict
            summary.present += step.already_present
            summary.folders[os.path.relpath(os.path.dirname(step.target), output)] += 1
        steps.append(step)
        if len(steps) >= PLAN_BATCH:
            OrganizeStep.objects.bulk_create(steps)
            steps = []
        if reporter.is_cancelled():
            summary.cancelled = True
            break
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
        OrganizeStep.objects.bulk_create(steps)
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


def _skip_reason(asset: Asset, redundant: dict[int, str], options: OrganizeOptions) -> str:
    if asset.status == AssetStatus.MISSING:
        return "missing since the last scan"
    if not asset.sha256:
        return f"could not be read: {asset.problem_message or asset.problem_kind or 'no checksum'}"
    if asset.pk in redundant:
        return f"duplicate of {redundant[asset.pk]}"
    return ""


def _with_sidecars(catalog: Catalog) -> dict[int, str]:
    """Asset id → the name of one of its sidecars, for the assets that have any."""
    rows = Sidecar.objects.filter(asset__catalog=catalog).order_by("asset_id", "path").values_list("asset_id", "path")
    found: dict[int, str] = {}
    for asset, path in rows.iterator(chunk_size=5000):
        found.setdefault(asset, os.path.basename(path))
    return found


def _sidecar_reason(sidecar: str | None) -> str:
    """Organize does not carry sidecars yet: a move would leave them behind, cut off from their photo (and the
    next scan would lose their keywords, rating and dates). Such files are left where they are; a copy takes the
    photo and leaves the original with its sidecars."""
    if sidecar is None:
        return ""
    return f"has sidecars ({sidecar}), which organize does not move yet: use copy, or move it with them by hand"


def _path_reason(path: str, operation: str, roots: list[str] | None) -> str:
    if operation != Operation.COPY and os.path.islink(path):
        return "a symbolic link: organize the file it points to instead"
    if roots is not None and not really_inside_any(path, roots):
        return "outside the library roots (through a symbolic link)"
    return ""


def _reason_kind(reason: str) -> str:
    """The reason without the file-specific part, for counting."""
    for prefix in ("duplicate of", "could not be read", "changed", "vanished", "a symbolic link", "outside the",
                   "has sidecars"):  # fmt: skip
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


def _plan_name(target: str, asset: Asset, taken: dict[str, str], operation: str) -> tuple[str, bool]:
    """The first name for this content that neither the plan nor the disk gives to another content; True when
    it already holds this content (on disk, or planned for an identical file).

    A move never adopts a file it did not write: its source goes away, so its content must be in a file of its own
    (one that no other job, catalog or user relies on), and every moved asset keeps a file of its own.
    """
    share = operation != Operation.MOVE
    for candidate in safefs.name_candidates(target):
        planned = taken.get(candidate)
        if planned is not None:
            if share and planned == asset.sha256:
                return candidate, True
            continue
        if os.path.lexists(candidate):
            if share and safefs.holds(candidate, asset.sha256, asset.size):
                taken[candidate] = asset.sha256
                return candidate, True
            continue
        taken[candidate] = asset.sha256
        return candidate, False
    raise OrganizeError(f"no free name for {target}: {safefs.MAX_SUFFIX} suffixes taken")


# Executing ---------------------------------------------------------------------------------------------------------


class _Executor:
    """Drives steps through the protocol. One per run; ``pause`` widens the windows for fault-injection tests."""

    def __init__(self, journal: Job, verify: bool) -> None:
        self.journal = journal
        self.verify = verify
        self.output = os.path.realpath(journal.params.get("output_directory") or "/")
        self.pause = float(getattr(settings, "VAM_ORGANIZE_PAUSE", 0.0) or 0.0)
        self.move_by_link = getattr(settings, "VAM_ORGANIZE_MOVE_BY_LINK", True)
        self._verified_here: int | None = None  # the step whose temporary file this run copied and verified
        self._placed_here: int | None = None  # the step this run verified and linked itself: no second read

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

    def run(self, step: OrganizeStep) -> None:
        """Finish one step from whatever state it is in; a failure is recorded on the step, never raised."""
        try:
            self._advance(step)
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

    def _advance(self, step: OrganizeStep) -> None:
        while step.state not in FINAL:
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
            raise OrganizeError(f"the source vanished since the plan: {step.source}") from None
        if (stat.st_size, stat.st_mtime_ns) != (step.size, step.mtime_ns):
            raise OrganizeError(f"the source changed since the last scan (analyze again): {step.source}")
        folder = os.path.dirname(step.target)
        safefs.make_dirs(folder)
        if not is_inside(os.path.realpath(folder), self.output):
            raise OrganizeError(f"the target folder {folder} leads out of the output {self.output} (a symbolic link)")
        if step.operation == Operation.HARDLINK:
            if self.verify and safefs.sha256_file(step.source) != step.sha256:
                raise OrganizeError(f"the source's content differs from the catalog's (analyze again): {step.source}")
            self._choose(step, step.source)
        else:
            self.record(step, StepState.STARTED, temp=self.temp_for(step))

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
        self._verified_here = step.pk
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
        name, present = safefs.free_name(
            step.target, step.sha256, step.size, lambda name: step.operation != Operation.MOVE
        )
        device, inode = safefs.identity(placing) or (None, None)
        self.record(step, StepState.VERIFIED, target=name, already_present=present, file_device=device,
                    file_inode=inode, conflict=step.conflict or name != step.target)  # fmt: skip
        self._wait()

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
            self._placed_here = step.pk if linked and self._verified_here == step.pk else None
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
        if step.pk == self._placed_here:  # copied, verified and linked by this very run a moment ago
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
            if step.asset_id:
                _repoint(step.asset_id, step.source, step.target)
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


def _repoint(asset_id: int, old: str, new: str) -> None:
    """Point an asset at the path its file now has. Another row at that path is never touched (a move never
    shares a name, see ``_plan_name``): then the asset keeps its old path, and the next analyze sorts it out."""
    asset = Asset.objects.filter(pk=asset_id, path=old).first()
    if asset is None:
        return
    if Asset.objects.filter(catalog_id=asset.catalog_id, path=new).exclude(pk=asset_id).exists():
        logger.warning("asset %s: %s is another asset's path; its row keeps %s", asset_id, new, old)
        return
    Asset.objects.filter(pk=asset_id).update(path=new)


def _execute(journal: Job, steps, verify: bool, reporter: ProgressReporter, summary: OrganizeSummary) -> None:
    executor = _Executor(journal, verify)
    pending = list(steps)
    total = len(pending)
    reporter.update(phase="execute", current=0, total=total, message="")
    for index, step in enumerate(pending, start=1):
        if reporter.is_cancelled():
            summary.cancelled = True
            break
        executor.run(step)
        if step.state == StepState.FAILED:
            summary.failed += 1
        elif step.state == StepState.DONE:
            summary.done += 1
        reporter.update(phase="execute", current=index, total=total, message=os.path.basename(step.source))


def _remove_leftovers(journal: Job) -> None:
    """Temporary files of steps that ended (a crash between their last two writes) go."""
    for temp in (
        OrganizeStep.objects.filter(job=journal, state__in=FINAL).exclude(temp="").values_list("temp", flat=True)
    ):
        try:
            safefs.remove_if_present(temp)
        except OSError:
            pass


def _finish_in_flight(catalog: Catalog, summary: OrganizeSummary, reporter: ProgressReporter) -> None:
    """Steps that earlier organize runs of this catalog left mid-protocol (their worker died) are finished first."""
    journals = Job.objects.filter(organize_steps__state__in=IN_FLIGHT, catalog=catalog).distinct()
    for journal in journals:
        steps = journal.organize_steps.filter(state__in=IN_FLIGHT).order_by("seq")
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
    summary.elapsed = time.monotonic() - started
    reporter.update(phase="done", current=summary.planned, total=summary.planned)
    return summary


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
    summary = OrganizeSummary()
    steps = journal.organize_steps.exclude(state__in=FINAL).order_by("seq")
    _execute(journal, steps, journal.params.get("verify_checksums", True), reporter, summary)
    _remove_leftovers(journal)
    _tally(journal, summary)
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
            if step.operation == Operation.MOVE and step.asset_id:
                _repoint(step.asset_id, step.target, step.source)
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
