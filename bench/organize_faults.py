"""Fault injection for organize: kill -9 a real ``manage.py organize --operation move`` at random instants, check
after every kill that no file is lost, resume to the end, then roll back (killed too) and compare the trees.

Usage (from the repository root; needs Postgres)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vam python -m bench.organize_faults [--kills 200] [--files 40]

The run uses its own database on the ``DATABASE_URL`` server (the URL's name with ``_bench_organize`` appended,
created and migrated when missing) and its own temporary folders, so it touches nothing else.

Each *round* makes a fresh library (``--files`` distinct dated JPEGs in a few folders, one of them an exact copy of
another), analyzes it, and moves it into ``YYYY/MM`` folders in a subprocess that is killed with SIGKILL at a
random instant of its execution, again and again, each attempt resuming the journal (``--resume``), until an
attempt runs to its end. Then a rollback is killed the same way until one completes. ``VAM_ORGANIZE_PAUSE``
(seconds between the protocol's stages, default here 0.01) widens the windows between copy and verify, verify and
link, link and source removal, so that kills land in each; the journal's in-flight states at each kill show
where they landed. Rounds cycle through four runs: a move that hard-links each source to its temporary name (one
file system), a move that copies its bytes (as across file systems; ``VAM_ORGANIZE_MOVE_BY_LINK=0``), a copy,
and a hard link; half the kills or more land in moves.

After every kill: every file of the library is at its source or, verified by sha256, at the target its journal
step recorded, and a move has removed no source of a group (a photo, its sidecars, its pair) before every file of
the group was verified at its target. After the resume: every file is at its target (the very source file, for a
hard link), each sidecar and paired file under its lead's name stem (and, for a move, known to the catalog at its
new path); a move left no source, a copy or a hard link every source. After the rollback: the library is
byte-identical (relative paths and sha256) to what it was, the output holds no file, and no temporary file is
left anywhere.

The last lines of the output are ``key=value`` pairs; the summary line is for the closing note.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.database import bench_database_url, ensure_database

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0
IN_FLIGHT = ("started", "verified", "placed")
RUNS = [("move", True), ("move", False), ("copy", True), ("hardlink", True)]  # (operation, move by link)


def tree(folder: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``folder`` (temporary ``.part`` files included)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def make_library(folder: Path, files: int, seed: int) -> None:
    """Distinct dated JPEGs over a few folders and months, and one exact copy under another name; sidecars (XMP,
    Takeout JSON, AAE) beside some of them, a RAW + JPEG pair and a Live Photo (a JPEG and its clip)."""
    from PIL import Image

    rng = random.Random(seed)
    for index in range(files):
        month = 1 + index % 4
        taken = f"2019:{month:02d}:{1 + index % 27:02d} {index % 24:02d}:{index % 60:02d}:00"
        picture = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
        exif = Image.Exif()
        exif[0x0110] = "Bench Camera"
        exif.get_ifd(0x8769)[0x9003] = taken
        path = folder / f"trip{index % 3}" / f"IMG_{index:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path, "JPEG", quality=80, exif=exif)
        if index % 3 == 0:
            path.with_name(path.name + ".xmp").write_text(XMP.format(rating=index % 6))
        if index % 4 == 1:
            taken_time = {"photoTakenTime": {"timestamp": str(1550000000 + index)}}
            path.with_name(path.name + ".json").write_text(json.dumps(taken_time))
        if index % 7 == 2:
            path.with_suffix(".AAE").write_bytes(rng.randbytes(200))
    shutil.copy2(folder / "trip0" / "IMG_0000.jpg", folder / "trip1" / "copy_of_IMG_0000.jpg")
    pairs = folder / "pairs"
    pairs.mkdir()
    (pairs / "IMG_20190301_101010.CR2").write_bytes(b"II*\x00" + rng.randbytes(3000))  # dated by its name
    (pairs / "IMG_20190301_101010.xmp").write_text(XMP.format(rating=5))
    picture = Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3))
    picture.save(pairs / "IMG_20190301_101010.jpg", "JPEG", quality=80)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:02:14 08:00:00"
    picture.save(pairs / "LIVE_0001.jpg", "JPEG", quality=70, exif=exif)
    (pairs / "LIVE_0001.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + rng.randbytes(2500))


XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:Rating="{rating}"/></rdf:RDF></x:xmpmeta>'


@dataclass
class Report:
    kills: int = 0
    lost: int = 0
    checks: int = 0
    resumes_completed: int = 0
    rollbacks_identical: int = 0
    rounds: int = 0
    landed: Counter[str] = field(default_factory=Counter)  # in-flight journal states seen right after a kill
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        landed = ", ".join(f"{state} {count}" for state, count in sorted(self.landed.items())) or "none"
        return (
            f"organize fault injection: {self.kills} kills over {self.rounds} rounds, {self.lost} files lost, "
            f"{self.resumes_completed} resumes completed, {self.rollbacks_identical}/{self.rounds} rollbacks "
            f"byte-identical; kills that left a step in flight: {landed}"
        )


class Campaign:
    """Runs the rounds against the database Django is configured with (the subprocesses get the same one)."""

    def __init__(self, work: Path, database_url: str, *, files: int, pause: float, seed: int, log=None) -> None:
        self.work = work
        self.database_url = database_url
        self.files = files
        self.pause = pause
        self.rng = random.Random(seed)
        self.seed = seed
        self.log = log or (lambda message: None)
        self.report = Report()
        self.by_link = True

    # -- one round ---------------------------------------------------------------------------------------------

    def round(self, max_kills: int) -> None:
        from catalog.services.analyze import catalog_analyze, catalog_get_or_create

        number = self.report.rounds
        self.report.rounds += 1
        base = self.work / f"round{number}"
        library, output, catalog_dir = base / "photos", base / "sorted", base / "catalog"
        make_library(library, self.files, self.seed + number)
        catalog = catalog_get_or_create(path=catalog_dir)
        catalog_analyze(catalog=catalog, sources=[str(library)], workers=1, thumbnails=False, detect_duplicates=False)
        original = tree(library)
        operation, self.by_link = RUNS[number % len(RUNS)]
        organize = ["organize", str(catalog_dir), str(output), "--operation", operation, "--naming",
                    "date_time_original"]  # fmt: skip

        journal = self._until_complete(catalog, organize, original, library, max_kills, rollback=None)
        self._check_placed(journal, original, library, operation)
        self.report.resumes_completed += 1
        self._until_complete(catalog, organize, original, library, max_kills, rollback=journal)
        after = tree(library)
        leftovers = [name for name in tree(base) if name.endswith(".part")]
        if after == original and not tree(output) and not leftovers:
            self.report.rollbacks_identical += 1
        else:
            missing = sorted(set(original) - set(after))[:5]
            extra = sorted(set(after) - set(original))[:5]
            self.report.problems.append(
                f"round {number}: rollback differs: missing {missing}, extra {extra}, output left "
                f"{sorted(tree(output))[:5]}, temporary files {leftovers[:5]}"
            )

    def _until_complete(self, catalog, organize, original, library, max_kills, rollback):
        """Run (and kill, up to ``max_kills`` times) until an attempt ends by itself; returns the journal."""
        kills = 0
        while True:
            journal = rollback or self._journal(catalog)
            if rollback is not None:
                command = ["organize", "--rollback", str(rollback.pk)]
            elif journal is not None:
                command = ["organize", "--resume", str(journal.pk)]
            else:
                command = organize
            killed = self._attempt(command, catalog, kill=kills < max_kills)
            if not killed:
                journal = rollback or self._journal(catalog)
                if journal is None:
                    raise RuntimeError("organize ended without a journal")
                return journal
            kills += 1
            self.report.kills += 1
            self._check_nothing_lost(catalog, original, library)
            if rollback is None:  # a rollback brings a group back file by file, the sidecars first
                self._check_groups_whole(catalog)
            if kills >= max_kills * 4:
                raise RuntimeError(f"no attempt completed after {kills} kills")

    def _attempt(self, command: list[str], catalog, kill: bool) -> bool:
        """Start ``manage.py`` + command; once it is executing, SIGKILL it at a random instant. True if killed."""
        env = os.environ | {
            "DATABASE_URL": self.database_url, "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench",
            "VAM_ORGANIZE_PAUSE": str(self.pause),
            "VAM_ORGANIZE_MOVE_BY_LINK": "1" if self.by_link else "0",
        }  # fmt: skip
        env.pop("REDIS_URL", None)  # the command runs its job itself; no queue needed
        log = self.work / "attempt.log"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the child
            process = subprocess.Popen(
                [sys.executable, "manage.py", *command], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            if kill and self._wait_executing(process):
                time.sleep(self.rng.uniform(0, self.pause * 3 * self.files / 2))
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    self._note_landing(catalog)
                    return True
            process.wait(timeout=START_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        text = log.read_text(errors="replace")
        if process.returncode != 0:
            self.report.problems.append(f"{' '.join(command[:2])} exited {process.returncode}: {text[-600:]}")
        return False

    def _wait_executing(self, process: subprocess.Popen) -> bool:
        """Wait until the command's job is past its plan (or ends); True if it is executing now."""
        from jobs.models import Job, JobStatus

        started = time.monotonic()
        newest = Job.objects.filter(kind="organize").order_by("-created_at").values_list("pk", flat=True).first()
        while time.monotonic() - started < START_TIMEOUT and process.poll() is None:
            job = Job.objects.filter(kind="organize").order_by("-created_at").first()
            executing = job is not None and job.status == JobStatus.PROGRESS and job.phase in ("execute", "rollback")
            if executing and job.pk != newest:
                return True
            time.sleep(0.01)
        return False

    def _journal(self, catalog):
        from catalog.models import StepState
        from jobs.models import Job

        started = [StepState.PLANNED, StepState.STARTED, StepState.VERIFIED, StepState.PLACED, StepState.DONE]
        return (
            Job.objects.filter(kind="organize", catalog=catalog, organize_steps__state__in=started)
            .distinct()
            .order_by("-created_at")
            .first()
        )

    def _note_landing(self, catalog) -> None:
        from catalog.models import OrganizeStep

        states = OrganizeStep.objects.filter(job__catalog=catalog, state__in=IN_FLIGHT).values_list("state", flat=True)
        for state in states:
            self.report.landed[state] += 1

    # -- checks ------------------------------------------------------------------------------------------------

    def _targets(self, catalog) -> dict[str, list[str]]:
        from catalog.models import OrganizeStep

        targets: dict[str, list[str]] = {}
        for source, target in OrganizeStep.objects.filter(job__catalog=catalog).values_list("source", "target"):
            if target:
                targets.setdefault(source, []).append(target)
        return targets

    def _check_nothing_lost(self, catalog, original: dict[str, str], library: Path) -> None:
        targets = self._targets(catalog)
        self.report.checks += 1
        for relative, digest in original.items():
            source = str(library / relative)
            places = [source, *targets.get(source, [])]
            if not any(_holds(path, digest) for path in places):
                self.report.lost += 1
                self.report.problems.append(f"after kill {self.report.kills}: {relative} is nowhere ({places})")

    def _check_groups_whole(self, catalog) -> None:
        """A move removes no source of a group (a file, its sidecars, its pair) until every file of it is verified
        at its target: a source gone means the whole group is in place."""
        from catalog.models import Operation, OrganizeStep, StepState

        groups: dict[int, list] = {}
        moves = OrganizeStep.objects.filter(job__catalog=catalog, operation=Operation.MOVE).exclude(
            state__in=[StepState.SKIPPED, StepState.ROLLED_BACK]
        )
        for step in moves:
            groups.setdefault(step.follows_id or step.pk, []).append(step)
        for group in groups.values():
            if len(group) > 1 and any(not os.path.lexists(step.source) for step in group):
                astray = [step.source for step in group if not (step.target and _holds(step.target, step.sha256))]
                if astray:
                    self.report.problems.append(
                        f"after kill {self.report.kills}: a group was split: {astray[0]} is not at its target while "
                        "another source of its group is gone"
                    )

    def _check_placed(self, journal, original: dict[str, str], library: Path, operation: str) -> None:
        from catalog.models import Sidecar, StepKind, StepState

        steps = {step.source: step for step in journal.organize_steps.all()}
        for step in steps.values():  # each file of a group took its lead's name stem
            lead = next((other for other in steps.values() if other.pk == step.follows_id), None)
            if lead is not None and os.path.basename(step.target) != Path(lead.target).stem + step.name_tail:
                self.report.problems.append(f"after the resume: {step.target} does not go with {lead.target}")
            moved_sidecar = operation == "move" and step.kind == StepKind.SIDECAR
            if moved_sidecar and not Sidecar.objects.filter(path=step.target).exists():
                self.report.problems.append(f"after the resume: the catalog does not know {step.target}")
        for relative, digest in original.items():
            source = library / relative
            step = steps.get(str(source))
            if step is None or step.state != StepState.DONE or not _holds(step.target, digest):
                self.report.problems.append(f"after the resume: {relative} is not done at its target ({step})")
            elif operation == "move" and os.path.lexists(source):
                self.report.problems.append(f"after the resume: the source {relative} of a move is still there")
            elif operation != "move" and not _holds(str(source), digest):
                self.report.problems.append(f"after the resume: the source {relative} of a {operation} is gone")
            elif operation == "hardlink" and not os.path.samefile(source, step.target):
                self.report.problems.append(f"after the resume: {step.target} is not a link to {relative}")


def _holds(path: str, digest: str) -> bool:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.organize_faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="kills in all (default 200)")
    parser.add_argument("--files", type=int, default=40, help="files per round (default 40)")
    parser.add_argument("--per-round", type=int, default=10, help="kills per organize or rollback (default 10)")
    parser.add_argument("--pause", type=float, default=0.01, help="VAM_ORGANIZE_PAUSE of the killed runs")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit(
            "bench.organize_faults needs DATABASE_URL (Postgres), e.g. postgres://postgres@127.0.0.1:5432/vam"
        )
    url = bench_database_url(os.environ["DATABASE_URL"], "_bench_organize", "bench.organize_faults")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ["DJANGO_SETTINGS_MODULE"] = "vamsite.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}; {args.files} files per round; up to {args.per_round} kills per organize and per rollback")
    with tempfile.TemporaryDirectory(prefix="vam-faults-") as work:
        campaign = Campaign(Path(work), url, files=args.files, pause=args.pause, seed=seed, log=print)
        started = time.monotonic()
        while campaign.report.kills < args.kills:
            campaign.round(min(args.per_round, max(1, (args.kills - campaign.report.kills + 1) // 2)))
            print(f"  round {campaign.report.rounds}: {campaign.report.kills} kills so far", flush=True)
        elapsed = time.monotonic() - started
    report = campaign.report
    for problem in report.problems[:20]:
        print("PROBLEM", problem)
    print(report.line())
    print(f"{elapsed:.0f} s")
    print()
    for key, value in (
        ("kills", report.kills), ("rounds", report.rounds), ("files_lost", report.lost),
        ("checks", report.checks), ("resumes_completed", report.resumes_completed),
        ("rollbacks_identical", report.rollbacks_identical), ("problems", len(report.problems)),
        *((f"landed_{state}", count) for state, count in sorted(report.landed.items())),
    ):  # fmt: skip
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
