"""Organize end to end on real files: target paths per structure and naming, name conflicts, duplicates and undated
files, dry runs, copy / move / hard link, rollback, resume after an interruption, refusals and failures, and the
``organize`` command. (Kills in the middle of a run are covered elsewhere.)"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Asset, DuplicateGroup, DuplicateMember, GroupKind, Operation, OrganizeStep, StepState
from catalog.services.analyze import catalog_get_or_create
from catalog.services.organize import (
    OrganizeError,
    OrganizeOptions,
    OrganizeSummary,
    catalog_organize,
    organize_check,
    organize_resume,
    organize_rollback,
)
from jobs.models import Job, JobKind
from tests.services.helpers import analyze, asset_at, camera_photo, plain_photo

TAKEN = "2019:03:15 14:22:33"
STAMP = "2019-03-15_142233"


# Helpers -----------------------------------------------------------------------------------------------------------


def sha256_of(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included): relative path → sha256."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def listing(folder: Path, *, exclude: Path | None = None) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``folder`` but ``exclude``: relative path → (kind, mtime_ns, sha256 of files)."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        if exclude is not None and (path == exclude or exclude in path.parents):
            continue
        content = sha256_of(path) if path.is_file() else ""
        entries[str(path.relative_to(folder))] = ("file" if content else "dir", path.stat().st_mtime_ns, content)
    return entries


def leftovers(folder: Path) -> list[Path]:
    """Temporary files organize writes next to its targets and must never leave behind."""
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".vam-"))


def organize(catalog, out: Path, **options) -> tuple[Job, OrganizeSummary]:
    """Run an organize as its job would, with the options given; returns the job (the journal) and the summary."""
    opts = OrganizeOptions(output=str(out), **options)
    params = {
        "output_directory": str(out),
        "operation": opts.operation,
        "verify_checksums": opts.verify,
        "dry_run": opts.dry_run,
    }
    job = Job.objects.create(kind=JobKind.ORGANIZE, catalog=catalog, params=params)
    return job, catalog_organize(catalog=catalog, job=job, options=opts)


def steps(job: Job) -> list[OrganizeStep]:
    return list(OrganizeStep.objects.filter(job=job).order_by("seq"))


def step_for(job: Job, source: Path) -> OrganizeStep:
    return OrganizeStep.objects.get(job=job, source=str(source))


def temp_of(job: Job, step: OrganizeStep) -> str:
    """The temporary name the service copies a step's file to, next to its target."""
    return os.path.join(os.path.dirname(step.target), f".vam-{job.pk.hex[:12]}-{step.seq}.part")


def members(group: DuplicateGroup) -> set[int]:
    return set(DuplicateMember.objects.filter(group=group).values_list("asset_id", flat=True))


def asset_paths(catalog) -> set[str]:
    return set(Asset.objects.filter(catalog=catalog).values_list("path", flat=True))


def three_photos(library: Path) -> list[Path]:
    """Three dated camera photos in two folders and two months."""
    return [
        camera_photo(library / "2019" / "a.jpg", TAKEN, color=(200, 40, 40)),
        camera_photo(library / "2019" / "b.jpg", "2019:03:20 08:00:01", color=(40, 200, 40)),
        camera_photo(library / "trip" / "c.jpg", "2020:07:04 18:30:00", color=(40, 40, 200)),
    ]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "sorted"


# Target paths ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("structure", "folder"),
    [
        ("YYYY/MM", "2019/03"),
        ("YYYY-MM", "2019-03"),
        ("YYYY/MM-DD", "2019/03-15"),
        ("YYYY-MM-DD", "2019-03-15"),
        ("YYYY", "2019"),
        ("FLAT", ""),
    ],
)
def test_each_structure_files_photos_into_its_date_folders(library, catalog_dir, out, structure, folder):
    photo = camera_photo(library / "DSC_0001.JPG", TAKEN)
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, out, structure=structure)

    expected = out / folder / f"{STAMP}_{sha256_of(photo)[:8]}.JPG"  # the extension is kept as it was
    assert tree(out) == {str(expected.relative_to(out)): sha256_of(photo)}
    assert [(s.state, s.target) for s in steps(job)] == [(StepState.DONE, str(expected))]
    assert (summary.planned, summary.done, summary.conflicts) == (1, 1, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("naming", "name"),
    [
        ("date_time_checksum", f"{STAMP}_{{short}}.JPG"),
        ("date_time_original", f"{STAMP}_DSC_0001.JPG"),
        ("original", "DSC_0001.JPG"),
        ("checksum", "{sha}.JPG"),
    ],
)
def test_each_naming_strategy_names_the_files_as_documented(library, catalog_dir, out, naming, name):
    photo = camera_photo(library / "DSC_0001.JPG", TAKEN)
    second = camera_photo(library / "IMG_7.jpeg", "2021:11:02 07:05:09", color=(10, 10, 10))
    catalog, _ = analyze(catalog_dir, library)

    job, _ = organize(catalog, out, naming=naming)

    sha, other = sha256_of(photo), sha256_of(second)
    expected_second = {
        "date_time_checksum": f"2021-11-02_070509_{other[:8]}.jpeg",
        "date_time_original": "2021-11-02_070509_IMG_7.jpeg",
        "original": "IMG_7.jpeg",
        "checksum": f"{other}.jpeg",
    }[naming]
    assert tree(out) == {
        f"2019/03/{name.format(short=sha[:8], sha=sha)}": sha,
        f"2021/11/{expected_second}": other,
    }
    assert all(s.state == StepState.DONE for s in steps(job))


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_folders_follow_the_camera_wall_clock_in_any_server_time_zone(library, catalog_dir, out, settings, zone):
    settings.TIME_ZONE = zone
    late = camera_photo(library / "late.jpg", "2019:12:31 23:59:59")
    early = camera_photo(library / "early.jpg", "2020:01:01 00:00:01", color=(10, 200, 10))
    catalog, _ = analyze(catalog_dir, library)

    organize(catalog, out)

    assert tree(out) == {
        f"2019/12/2019-12-31_235959_{sha256_of(late)[:8]}.jpg": sha256_of(late),
        f"2020/01/2020-01-01_000001_{sha256_of(early)[:8]}.jpg": sha256_of(early),
    }


# Name conflicts ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_photos_with_the_same_name_get_a_numbered_suffix(library, catalog_dir, out):
    first = camera_photo(library / "card1" / "DSC_0001.jpg", TAKEN, color=(200, 0, 0))
    second = camera_photo(library / "card2" / "DSC_0001.jpg", "2019:03:28 10:00:00", color=(0, 0, 200))
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, out, naming="original")

    assert tree(out) == {"2019/03/DSC_0001.jpg": sha256_of(first), "2019/03/DSC_0001_001.jpg": sha256_of(second)}
    assert [s.conflict for s in steps(job)] == [False, True]
    assert summary.conflicts == 1


@pytest.mark.django_db
def test_an_existing_file_with_other_content_is_never_overwritten(library, catalog_dir, out):
    photo = camera_photo(library / "DSC_0001.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    squatter = out / "2019" / "03" / "DSC_0001.jpg"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"somebody else's picture")

    job, _ = organize(catalog, out, naming="original")

    assert squatter.read_bytes() == b"somebody else's picture"
    assert sha256_of(out / "2019" / "03" / "DSC_0001_001.jpg") == sha256_of(photo)
    (step,) = steps(job)
    assert (step.state, step.target, step.conflict) == (StepState.DONE, str(squatter.with_stem("DSC_0001_001")), True)


@pytest.mark.django_db
def test_a_target_already_holding_the_same_content_is_recorded_as_present(library, catalog_dir, out):
    photo = camera_photo(library / "DSC_0001.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    earlier = out / "2019" / "03" / "DSC_0001.jpg"
    earlier.parent.mkdir(parents=True)
    shutil.copy2(photo, earlier)
    inode = earlier.stat().st_ino

    job, summary = organize(catalog, out, naming="original")

    (step,) = steps(job)
    assert (step.state, step.already_present, step.target) == (StepState.DONE, True, str(earlier))
    assert tree(out) == {"2019/03/DSC_0001.jpg": sha256_of(photo)}  # no second copy
    assert earlier.stat().st_ino == inode
    assert summary.present == 1 and summary.done == 0


# What is left out --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_skip_duplicates_places_only_the_primary_of_an_exact_group(library, catalog_dir, out):
    photo = camera_photo(library / "a.jpg", TAKEN)
    copy = Path(shutil.copy(photo, library / "b.jpg"))
    other = camera_photo(library / "c.jpg", TAKEN, color=(0, 90, 0))
    catalog, _ = analyze(catalog_dir, library)
    group = DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.EXACT)
    primary = group.primary.path
    redundant = str(copy) if primary == str(photo) else str(photo)

    job, summary = organize(catalog, out, skip_duplicates=True)

    states = {s.source: s for s in steps(job)}
    assert states[primary].state == StepState.DONE
    assert states[str(other)].state == StepState.DONE
    assert states[redundant].state == StepState.SKIPPED
    assert states[redundant].reason.startswith("duplicate of") and primary in states[redundant].reason
    assert sorted(tree(out).values()) == sorted([sha256_of(photo), sha256_of(other)])
    assert summary.skipped_reasons == {"duplicate of": 1}


@pytest.mark.django_db
def test_undated_files_go_to_the_undated_folder_never_under_today(library, catalog_dir, out):
    dated = camera_photo(library / "dated.jpg", TAKEN)
    undated = plain_photo(library / "nodate.jpg")
    catalog, _ = analyze(catalog_dir, library)
    assert asset_at(catalog, undated).date_source == "mtime"  # only the file time: not a capture date

    organize(catalog, out)

    assert tree(out) == {
        "undated/nodate.jpg": sha256_of(undated),
        f"2019/03/{STAMP}_{sha256_of(dated)[:8]}.jpg": sha256_of(dated),
    }
    assert not (out / str(date.today().year)).exists()


@pytest.mark.django_db
def test_undated_files_are_skipped_without_an_undated_folder(library, catalog_dir, out):
    dated = camera_photo(library / "dated.jpg", TAKEN)
    undated = plain_photo(library / "nodate.jpg")
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, out, undated_folder=None)

    step = step_for(job, undated)
    assert step.state == StepState.SKIPPED and "no reliable capture date" in step.reason
    assert tree(out) == {f"2019/03/{STAMP}_{sha256_of(dated)[:8]}.jpg": sha256_of(dated)}
    assert (summary.done, summary.skipped) == (1, 1)


# Dry run -----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dry_run_stores_the_plan_and_writes_nothing(tmp_path, library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    before = listing(tmp_path, exclude=catalog_dir)

    job, summary = organize(catalog, out, dry_run=True)

    assert listing(tmp_path, exclude=catalog_dir) == before
    assert not out.exists()
    plan = steps(job)
    assert [s.state for s in plan] == [StepState.PLANNED] * 3
    assert {s.source: s.target for s in plan} == {
        str(photos[0]): str(out / "2019" / "03" / f"{STAMP}_{sha256_of(photos[0])[:8]}.jpg"),
        str(photos[1]): str(out / "2019" / "03" / f"2019-03-20_080001_{sha256_of(photos[1])[:8]}.jpg"),
        str(photos[2]): str(out / "2020" / "07" / f"2020-07-04_183000_{sha256_of(photos[2])[:8]}.jpg"),
    }
    assert summary.dry_run and summary.planned == 3 and summary.done == 0
    assert summary.folders == {"2019/03": 2, "2020/07": 1}


# Copy, move, hard link ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_copy_places_verified_copies_and_leaves_sources_untouched(library, catalog_dir, out):
    photos = three_photos(library)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos}
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, out, operation=Operation.COPY)

    assert (summary.planned, summary.done, summary.failed, summary.skipped) == (3, 3, 0, 0)
    for step in steps(job):
        source, target = Path(step.source), Path(step.target)
        assert step.state == StepState.DONE
        assert sha256_of(target) == sha256_of(source) == step.sha256
        assert (source.read_bytes(), source.stat().st_mtime_ns) == before[source]
        assert target.stat().st_mtime_ns == source.stat().st_mtime_ns
        assert not os.path.samefile(source, target)  # a real copy, not a link
    assert len(tree(out)) == 3
    assert leftovers(out) == [] and leftovers(library) == []
    assert asset_paths(catalog) == {str(p) for p in photos}  # a copy leaves the catalog where it was


@pytest.mark.django_db
def test_move_with_verification_moves_files_and_repoints_the_catalog(library, catalog_dir, out):
    photos = three_photos(library)
    twin = Path(shutil.copy2(photos[0], library / "trip" / "a_copy.jpg"))  # an exact duplicate of a.jpg
    contents = {str(p): sha256_of(p) for p in [*photos, twin]}
    mtimes = {str(p): p.stat().st_mtime_ns for p in [*photos, twin]}
    catalog, _ = analyze(catalog_dir, library)
    groups = {g.pk: (g.primary_id, members(g)) for g in DuplicateGroup.objects.filter(catalog=catalog)}
    assert len(groups) == 1 and len(next(iter(groups.values()))[1]) == 2
    ids = {a.path: a.pk for a in Asset.objects.filter(catalog=catalog)}

    # Both copies map to one name (same date, same checksum): a move keeps every asset its own file, so the
    # second takes a suffix instead of being found "already present" and losing its file.
    job, summary = organize(catalog, out, operation=Operation.MOVE, verify=True)

    assert (summary.done, summary.failed, summary.present) == (4, 0, 0)
    moved = {s.source: s.target for s in steps(job)}
    assert len(set(moved.values())) == 4
    assert sorted(os.path.basename(moved[str(p)]) for p in (photos[0], twin)) == [
        f"2019-03-15_142233_{contents[str(twin)][:8]}.jpg",
        f"2019-03-15_142233_{contents[str(twin)][:8]}_001.jpg",
    ]
    for source, target in moved.items():
        assert not os.path.exists(source)
        assert sha256_of(target) == contents[source]
        assert os.stat(target).st_mtime_ns == mtimes[source]  # the camera file's time travels with it
    assert tree(library) == {}
    assert {a.path: a.pk for a in Asset.objects.filter(catalog=catalog)} == {moved[p]: pk for p, pk in ids.items()}
    assert {g.pk: (g.primary_id, members(g)) for g in DuplicateGroup.objects.filter(catalog=catalog)} == groups
    assert leftovers(out) == []

    organize_rollback(catalog=catalog, journal=job)
    assert tree(library) == {os.path.relpath(p, library): digest for p, digest in contents.items()}
    assert {a.path: a.pk for a in Asset.objects.filter(catalog=catalog)} == ids
    assert {g.pk: (g.primary_id, members(g)) for g in DuplicateGroup.objects.filter(catalog=catalog)} == groups


@pytest.mark.django_db
def test_hardlink_gives_the_same_file_a_second_name(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, out, operation=Operation.HARDLINK)

    assert summary.done == 3
    for step in steps(job):
        assert step.state == StepState.DONE
        assert os.path.samefile(step.source, step.target)
    assert all(p.exists() for p in photos)
    assert asset_paths(catalog) == {str(p) for p in photos}


# Rollback ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("operation", [Operation.COPY, Operation.MOVE, Operation.HARDLINK])
def test_rollback_restores_the_source_tree_and_empties_the_output(library, catalog_dir, out, operation):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    sources = tree(library)
    paths = asset_paths(catalog)
    job, _ = organize(catalog, out, operation=operation)
    assert len(tree(out)) == 3

    summary = organize_rollback(catalog=catalog, journal=job)

    assert (summary.rolled_back, summary.failed, summary.kept) == (3, 0, 0)
    assert tree(library) == sources
    assert tree(out) == {}
    assert [p for p in out.rglob("*")] == []  # the date folders it made are gone too
    assert asset_paths(catalog) == paths == {str(p) for p in photos}
    assert {s.state for s in steps(job)} == {StepState.ROLLED_BACK}

    again = organize_rollback(catalog=catalog, journal=job)

    assert (again.rolled_back, again.failed) == (0, 0)
    assert tree(library) == sources and tree(out) == {}
    assert asset_paths(catalog) == paths


@pytest.mark.django_db
def test_rollback_keeps_a_copy_that_changed_after_organize(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    job, _ = organize(catalog, out, operation=Operation.COPY)
    edited = step_for(job, photos[0])
    Path(edited.target).write_bytes(Path(edited.target).read_bytes() + b"retouched")
    edited_bytes = Path(edited.target).read_bytes()

    summary = organize_rollback(catalog=catalog, journal=job)

    assert Path(edited.target).read_bytes() == edited_bytes
    assert tree(out) == {str(Path(edited.target).relative_to(out)): sha256_of(edited.target)}
    edited.refresh_from_db()
    assert "kept" in edited.rollback_note and edited.target in edited.rollback_note
    assert (summary.rolled_back, summary.kept) == (3, 1)
    assert all(p.exists() for p in photos)


# Resume ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_resume_finishes_a_copy_interrupted_while_copying(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    job, _ = organize(catalog, out, operation=Operation.COPY)
    step = step_for(job, photos[1])
    target, temp = Path(step.target), Path(temp_of(job, step))
    # As if the process died half way through writing the temporary copy, before the target got its name.
    data = photos[1].read_bytes()
    temp.write_bytes(data[: len(data) // 2])
    target.unlink()
    OrganizeStep.objects.filter(pk=step.pk).update(state=StepState.STARTED, temp=str(temp))

    summary = organize_resume(catalog=catalog, journal=job)

    step.refresh_from_db()
    assert step.state == StepState.DONE and step.target == str(target)
    assert target.read_bytes() == data
    assert not temp.exists() and leftovers(out) == []
    assert len(tree(out)) == 3
    assert (summary.done, summary.failed) == (3, 0)
    assert summary.resumed == [str(job.pk)]


@pytest.mark.django_db
def test_a_plan_cut_short_never_runs_and_the_next_organize_replaces_it(library, catalog_dir, out):
    three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    planned, _ = organize(catalog, out, dry_run=True)
    # As if the process died while writing its plan: its rows are still drafts.
    OrganizeStep.objects.filter(job=planned).update(state=StepState.DRAFT)
    Job.objects.filter(pk=planned.pk).update(params=planned.params | {"dry_run": False})
    planned.refresh_from_db()

    with pytest.raises(OrganizeError, match="cut short before it was complete"):
        organize_resume(catalog=catalog, journal=planned)
    assert tree(out) == {}

    job, summary = organize(catalog, out)
    assert summary.done == 3 and len(tree(out)) == 3
    assert not OrganizeStep.objects.filter(job=planned).exists()  # the drafts made way for the new plan


@pytest.mark.django_db
def test_resume_finishes_a_move_interrupted_after_placing_the_target(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    asset_id = asset_at(catalog, photos[2]).pk
    job, _ = organize(catalog, out, operation=Operation.MOVE)
    step = step_for(job, photos[2])
    # As if the process died after placing the target, before removing the source and repointing the asset.
    shutil.copy2(step.target, step.source)
    OrganizeStep.objects.filter(pk=step.pk).update(state=StepState.PLACED)
    Asset.objects.filter(pk=asset_id).update(path=step.source)

    summary = organize_resume(catalog=catalog, journal=job)

    step.refresh_from_db()
    assert step.state == StepState.DONE
    assert not photos[2].exists()
    assert sha256_of(step.target) == step.sha256
    assert Asset.objects.get(pk=asset_id).path == step.target
    assert tree(library) == {}
    assert (summary.done, summary.failed) == (3, 0)


# Refusals and failures ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_output_inside_a_source_folder_is_refused(library, catalog_dir):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)

    with pytest.raises(OrganizeError, match="inside the source folder"):
        organize_check(catalog, OrganizeOptions(output=str(library / "sorted")))


@pytest.mark.django_db
def test_an_output_inside_a_source_left_out_of_later_scans_is_organized_and_never_cataloged_again(library, catalog_dir):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    sorted_folder = library / "sorted"

    job, summary = organize(catalog, sorted_folder, exclude_output=True, dry_run=True)
    catalog.refresh_from_db()
    assert summary.planned == 1 and catalog.exclude_directories == []  # a dry run changes nothing

    (library / "a.jpg").touch()  # changed since the scan: a move is refused, and the scans stay as they were
    with pytest.raises(OrganizeError, match="changed since"):
        organize(catalog, sorted_folder, exclude_output=True, operation="move")
    catalog.refresh_from_db()
    assert catalog.exclude_directories == []
    catalog, _ = analyze(catalog_dir, library)

    job, summary = organize(catalog, sorted_folder, exclude_output=True)
    assert summary.done == 1 and (sorted_folder / "2019" / "03").is_dir()
    catalog.refresh_from_db()
    assert catalog.exclude_directories == [str(sorted_folder.resolve())]
    _, rescan = analyze(catalog_dir, library)  # the organized copy is not a new asset
    assert Asset.objects.filter(catalog=catalog).count() == 1 and rescan.new == 0


@pytest.mark.django_db
def test_a_source_inside_the_output_is_refused(tmp_path, library, catalog_dir):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)

    with pytest.raises(OrganizeError, match="is inside the output"):
        organize_check(catalog, OrganizeOptions(output=str(tmp_path)))


@pytest.mark.django_db
def test_output_inside_the_catalog_folder_is_refused(library, catalog_dir):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)

    with pytest.raises(OrganizeError, match="inside the catalog folder"):
        organize_check(catalog, OrganizeOptions(output=str(catalog_dir / "sorted")))


@pytest.mark.django_db
def test_a_move_on_a_catalog_never_analyzed_is_refused(catalog_dir, out):
    catalog = catalog_get_or_create(path=catalog_dir)
    assert catalog.last_analyzed_at is None

    with pytest.raises(OrganizeError, match="never been analyzed"):
        organize_check(catalog, OrganizeOptions(output=str(out), operation=Operation.MOVE))
    assert organize_check(catalog, OrganizeOptions(output=str(out))) == str(out)  # a copy is fine


@pytest.mark.django_db
def test_a_move_is_refused_when_a_file_changed_since_the_scan(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    with photos[1].open("ab") as stream:
        stream.write(b"edited after the scan")
    sources = tree(library)

    with pytest.raises(OrganizeError, match="refusing to move") as refused:
        organize(catalog, out, operation=Operation.MOVE)

    assert str(photos[1]) in str(refused.value)
    assert str(photos[0]) not in str(refused.value)
    assert tree(library) == sources
    assert tree(out) == {}
    assert asset_paths(catalog) == {str(p) for p in photos}


@pytest.mark.django_db
def test_a_source_that_vanished_before_a_copy_is_skipped_and_the_rest_done(library, catalog_dir, out):
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    photos[0].unlink()

    job, summary = organize(catalog, out, operation=Operation.COPY)

    gone = step_for(job, photos[0])
    assert gone.state == StepState.SKIPPED and "vanished" in gone.reason
    assert [step_for(job, p).state for p in photos[1:]] == [StepState.DONE, StepState.DONE]
    assert sorted(tree(out).values()) == sorted(sha256_of(p) for p in photos[1:])
    assert (summary.done, summary.skipped, summary.failed) == (2, 1, 0)
    assert summary.skipped_reasons == {"vanished": 1}


@pytest.mark.django_db
def test_a_target_folder_that_cannot_be_made_fails_that_file_only(library, catalog_dir, out):
    # A file where the month folder should be: mkdir fails even for root (permissions would not stop root).
    photos = three_photos(library)
    catalog, _ = analyze(catalog_dir, library)
    blocker = out / "2020" / "07"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"not a folder")

    job, summary = organize(catalog, out, operation=Operation.MOVE)

    failed = step_for(job, photos[2])
    assert failed.state == StepState.FAILED and str(blocker) in failed.reason
    assert photos[2].exists() and asset_at(catalog, photos[2]).path == str(photos[2])  # still at its source
    assert blocker.read_bytes() == b"not a folder"
    assert [step_for(job, p).state for p in photos[:2]] == [StepState.DONE, StepState.DONE]
    assert not photos[0].exists() and not photos[1].exists()
    assert (summary.done, summary.failed) == (2, 1)
    assert leftovers(out) == []


# The command -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_organize_command_copies_writes_the_plan_and_rolls_back(tmp_path, library, catalog_dir, out):
    photos = three_photos(library)
    analyze(catalog_dir, library)
    plan = tmp_path / "plan.csv"
    stdout = io.StringIO()

    call_command(
        "organize", str(catalog_dir), str(out), "--operation", "copy", "--plan", str(plan),
        stdout=stdout, stderr=io.StringIO(),
    )  # fmt: skip

    assert "3 planned, 3 done" in stdout.getvalue()
    header, *rows = plan.read_text(encoding="utf-8").splitlines()
    assert header.startswith("seq,operation,state,source,target")
    assert len(rows) == 3 and all(",copy,done," in row for row in rows)
    assert sorted(tree(out).values()) == sorted(sha256_of(p) for p in photos)
    job = Job.objects.get(kind=JobKind.ORGANIZE)

    stdout = io.StringIO()
    call_command("organize", "--rollback", str(job.pk), stdout=stdout, stderr=io.StringIO())

    assert "rolled back 3 steps" in stdout.getvalue()
    assert tree(out) == {}
    assert all(p.exists() for p in photos)


@pytest.mark.django_db(transaction=True)
def test_organize_command_refuses_an_output_inside_the_source(library, catalog_dir):
    camera_photo(library / "a.jpg", TAKEN)
    analyze(catalog_dir, library)

    with pytest.raises(CommandError, match="inside the source folder"):
        call_command("organize", str(catalog_dir), str(library / "sorted"), stderr=io.StringIO())
    assert not (library / "sorted").exists()
    assert not Job.objects.filter(kind=JobKind.ORGANIZE).exists()
    # Left out of later scans, it is organized, and the next analyze does not catalog the copies.
    out = io.StringIO()
    call_command("organize", str(catalog_dir), str(library / "sorted"), "--exclude-output", stdout=out,
                 stderr=io.StringIO())  # fmt: skip
    assert "1 done" in out.getvalue() and (library / "sorted" / "2019" / "03").is_dir()
    catalog, rescan = analyze(catalog_dir, library)
    assert catalog.exclude_directories == [str((library / "sorted").resolve())] and rescan.seen == 1
