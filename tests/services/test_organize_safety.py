"""Organize scenarios that once could lose a file or touch one VAM did not write (found in review): several jobs
on one output, failed steps, edits between a crash and its resume, other file systems, symbolic links, resume
after rollback. Each sets up the journal and the files as a crash or a user would leave them, and checks that
every photo's content is still somewhere, and that nothing VAM did not write is removed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from catalog.models import Asset, Operation, OrganizeStep, StepState
from catalog.services.organize import OrganizeError, OrganizeOptions, organize_check, organize_resume, organize_rollback
from tests.services.helpers import analyze, asset_at, camera_photo
from tests.services.test_organize import TAKEN, organize, sha256_of, step_for, steps, tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "sorted"


@pytest.fixture
def other_fs(tmp_path: Path):
    """A folder on another file system than tmp_path (/dev/shm is a tmpfs on Linux)."""
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="vam-test-"))
    assert folder.stat().st_dev != tmp_path.stat().st_dev, "these tests need /dev/shm on a file system of its own"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def copies(root: Path, digest: str) -> list[Path]:
    """Every regular file under ``root`` with this content."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and sha256_of(p) == digest]


def test_a_move_never_adopts_a_copy_that_a_rollback_could_take_away(tmp_path, library, catalog_dir, out):
    photo = camera_photo(library / "a.jpg", TAKEN)
    digest = sha256_of(photo)
    catalog, _ = analyze(catalog_dir, library)
    copy_job, _ = organize(catalog, out, operation=Operation.COPY)
    move_job, summary = organize(catalog, out, operation=Operation.MOVE)

    moved = steps(move_job)[0]
    assert not moved.already_present and moved.target.endswith("_001.jpg")  # a file of its own, next to the copy
    organize_rollback(catalog=catalog, journal=copy_job)

    assert copies(tmp_path, digest) == [Path(moved.target)]
    assert Asset.objects.get(catalog=catalog).path == moved.target


def test_rollback_keeps_a_copy_that_another_job_found_already_present(library, catalog_dir, out):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    first, _ = organize(catalog, out)
    second, _ = organize(catalog, out)
    assert steps(second)[0].already_present

    organize_rollback(catalog=catalog, journal=first)

    step = steps(first)[0]
    assert Path(step.target).is_file()
    assert step.state == StepState.DONE and f"organize job {second.pk} relies on it" in step.rollback_note
    organize_rollback(catalog=catalog, journal=second)
    organize_rollback(catalog=catalog, journal=first)  # once nothing relies on it, it goes
    assert not Path(step.target).exists()


def test_rollback_of_a_failed_step_never_removes_the_file_a_later_job_put_at_its_name(
    tmp_path, library, catalog_dir, out
):
    photo = camera_photo(library / "a.jpg", TAKEN)
    digest = sha256_of(photo)
    catalog, _ = analyze(catalog_dir, library)
    blocker = out / "2019" / "03"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"not a folder")
    copy_job, summary = organize(catalog, out, operation=Operation.COPY)
    assert summary.failed == 1
    blocker.unlink()
    move_job, _ = organize(catalog, out, operation=Operation.MOVE)
    assert steps(move_job)[0].target == steps(copy_job)[0].target  # the name the failed copy had planned

    organize_rollback(catalog=catalog, journal=copy_job)

    assert copies(tmp_path, digest) == [Path(steps(move_job)[0].target)]


def test_a_resumed_move_never_removes_its_source_when_the_placed_copy_was_edited(
    tmp_path, library, catalog_dir, out, settings
):
    settings.VAM_ORGANIZE_MOVE_BY_LINK = False  # the copy is a file of its own, as across file systems
    photo = camera_photo(library / "DSC_0001.jpg", TAKEN)
    original = photo.read_bytes()
    catalog, _ = analyze(catalog_dir, library)
    job, _ = organize(catalog, out, operation=Operation.MOVE)
    step = steps(job)[0]
    target = Path(step.target)
    # As a crash between linking the copy and dropping its temporary name leaves it (the source still there)...
    photo.write_bytes(original)
    os.utime(photo, ns=(step.mtime_ns, step.mtime_ns))
    os.link(target, step.temp)
    OrganizeStep.objects.filter(pk=step.pk).update(state=StepState.VERIFIED)
    Asset.objects.filter(pk=step.asset_id).update(path=str(photo))
    # ... then someone edits the placed file in place, keeping its size.
    edited = bytearray(original)
    edited[-3] ^= 0xFF
    target.write_bytes(bytes(edited))

    organize_resume(catalog=catalog, journal=job)

    step.refresh_from_db()
    assert step.state == StepState.DONE and step.target != str(target)  # redone from the source, under a new name
    assert Path(step.target).read_bytes() == original and target.read_bytes() == bytes(edited)
    assert not photo.exists() and Asset.objects.get(pk=step.asset_id).path == step.target


def test_a_move_to_another_file_system_copies_and_its_rollback_copies_back(library, catalog_dir, other_fs):
    photos = [camera_photo(library / f"{n}.jpg", TAKEN, color=(n * 80, 20, 20)) for n in range(2)]
    before = tree(library)
    catalog, _ = analyze(catalog_dir, library)
    job, summary = organize(catalog, other_fs / "sorted", operation=Operation.MOVE)
    assert summary.done == 2 and not any(p.exists() for p in photos)
    # A copy back cut short by a crash left its temporary file in the library.
    stray = library / f".vam-rollback-{job.pk.hex[:12]}-{steps(job)[0].seq}.part"
    stray.write_bytes(b"half a copy")

    organize_rollback(catalog=catalog, journal=job)

    assert tree(library) == before and not list((other_fs / "sorted").rglob("*.jpg"))


def test_a_hard_link_across_file_systems_fails_that_file_and_moves_nothing(library, catalog_dir, other_fs):
    photo = camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    job, summary = organize(catalog, other_fs / "sorted", operation=Operation.HARDLINK)
    step = steps(job)[0]
    assert summary.failed == 1 and "one file system" in step.reason
    assert photo.is_file() and not list((other_fs / "sorted").rglob("*.jpg"))


def test_rollback_leaves_a_stranger_at_the_source_and_the_moved_file_where_it_is(library, catalog_dir, out):
    photo = camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    job, _ = organize(catalog, out, operation=Operation.MOVE)
    step = steps(job)[0]
    photo.write_bytes(b"a different file the user put there")

    summary = organize_rollback(catalog=catalog, journal=job)

    step.refresh_from_db()
    assert summary.kept == 1 and step.state == StepState.DONE and "a different file now sits at" in step.rollback_note
    assert Path(step.target).is_file() and photo.read_bytes() == b"a different file the user put there"
    assert Asset.objects.get(pk=step.asset_id).path == step.target  # the catalog follows the photo, not the stranger


def test_steps_a_rollback_reaches_before_they_ran_never_run_afterwards(library, catalog_dir, out):
    photos = [camera_photo(library / f"{n}.jpg", TAKEN, color=(n * 60, 0, 0)) for n in range(3)]
    catalog, _ = analyze(catalog_dir, library)
    job, _ = organize(catalog, out, operation=Operation.MOVE)
    last = step_for(job, photos[2])
    # As a run killed before its last step leaves it: that file never moved.
    shutil.copy2(last.target, photos[2])
    os.unlink(last.target)
    OrganizeStep.objects.filter(pk=last.pk).update(state=StepState.PLANNED)
    Asset.objects.filter(pk=last.asset_id).update(path=str(photos[2]))

    organize_rollback(catalog=catalog, journal=job)
    organize_resume(catalog=catalog, journal=job)

    assert all(p.is_file() for p in photos) and not list(out.rglob("*.jpg"))
    last.refresh_from_db()
    assert last.state == StepState.SKIPPED and last.reason == "rolled back before it ran"


def test_symbolic_links_are_copied_but_never_moved_or_linked(tmp_path, library, catalog_dir, out):
    real = camera_photo(tmp_path / "elsewhere" / "r.jpg", TAKEN)
    (library / "link.jpg").symlink_to(real)
    catalog, _ = analyze(catalog_dir, library)
    for operation in (Operation.MOVE, Operation.HARDLINK):
        job, summary = organize(catalog, out / operation, operation=operation)
        assert summary.skipped == 1 and "a symbolic link" in steps(job)[0].reason
    job, summary = organize(catalog, out / "copy", operation=Operation.COPY)
    copied = Path(steps(job)[0].target)
    assert summary.done == 1 and not copied.is_symlink() and copied.read_bytes() == real.read_bytes()
    assert real.is_file() and (library / "link.jpg").is_symlink()


def test_runs_from_the_web_keep_to_the_library_roots(tmp_path, library, catalog_dir, out):
    camera_photo(library / "a.jpg", TAKEN)
    catalog, _ = analyze(catalog_dir, library)
    roots = [str(tmp_path / "roots")]
    with pytest.raises(OrganizeError, match="outside the library roots"):
        organize_check(catalog, OrganizeOptions(output=str(out), roots=roots))
    with pytest.raises(OrganizeError, match="source folder .* is outside the library roots"):
        organize_check(catalog, OrganizeOptions(output=str(tmp_path / "roots" / "sorted"), roots=roots))
    with pytest.raises(OrganizeError, match="always verifies"):
        organize_check(catalog, OrganizeOptions(output=str(out), operation=Operation.MOVE, verify=False))
    assert asset_at(catalog, library / "a.jpg").path.endswith("a.jpg")
