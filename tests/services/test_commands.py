"""The management commands as a user runs them: analyze, find_duplicates, generate_thumbnails, jobs, catalogs,
ensure_admin.

The commands run their job in a thread of their own, which sees only committed rows: the tests commit
(``transaction=True``)."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, AssetStatus, Catalog
from catalog.services.analyze import catalog_get_or_create
from catalog.services.locks import NAMESPACE
from jobs.models import Job, JobKind, JobStatus
from tests.services.helpers import analyze, camera_photo, plain_photo

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
FILES = 600  # for the Ctrl-C test: enough to be stopped half way


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def thumbnails(catalog_dir, fmt="webp"):
    return sorted((catalog_dir / "thumbnails").rglob(f"*.{fmt}"))


# analyze ---------------------------------------------------------------------------------------------------------


def test_analyze_prints_a_summary_line(library, catalog_dir):
    camera_photo(library / "a.jpg")
    plain_photo(library / "b.jpg")
    (library / "empty.jpg").write_bytes(b"")

    out, err = run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")

    assert "done: 3 files" in err  # the progress reached the end
    assert f"Catalog {catalog_dir.resolve()}" in out
    assert "3 files seen: 3 new, 0 changed, 0 unchanged" in out
    assert "1 with problems" in out
    assert "files/s" in out
    assert Catalog.objects.get(path=str(catalog_dir.resolve())).assets.count() == 3

    out, _ = run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    assert "3 files seen: 0 new, 0 changed, 3 unchanged" in out


def test_analyze_takes_several_source_folders(tmp_path, catalog_dir):
    first, second = tmp_path / "phone", tmp_path / "camera"
    camera_photo(first / "a.jpg")
    camera_photo(second / "b.jpg", color=(1, 100, 200))

    out, _ = run("analyze", str(catalog_dir), "-s", str(first), "-s", str(second), "--workers", "1")

    assert "2 files seen" in out
    catalog = Catalog.objects.get(path=str(catalog_dir.resolve()))
    assert sorted(catalog.source_directories) == sorted([str(first), str(second)])
    assert sorted(catalog.assets.values_list("path", flat=True)) == sorted(
        [str(first / "a.jpg"), str(second / "b.jpg")]
    )


def test_relative_and_symlinked_paths_name_the_same_catalog_and_files(tmp_path, monkeypatch):
    library = tmp_path / "photos"
    camera_photo(library / "a.jpg")
    camera_photo(library / "sub" / "b.jpg", color=(5, 200, 5))
    (tmp_path / "alias").symlink_to(library, target_is_directory=True)
    monkeypatch.chdir(tmp_path)

    run("analyze", "catalog", "-s", "photos", "--workers", "1")
    out, _ = run("analyze", str(tmp_path / "catalog") + "/", "-s", "alias/", "--workers", "1")

    assert "2 files seen: 0 new, 0 changed, 2 unchanged, 0 known content, 0 moved, 0 marked missing" in out
    assert Catalog.objects.get().path == str(tmp_path / "catalog")
    assert sorted(Asset.objects.values_list("path", flat=True)) == [str(library / "a.jpg"), str(library / "sub/b.jpg")]


def test_analyze_with_a_missing_source_folder_fails_clearly(tmp_path, catalog_dir):
    missing = tmp_path / "no-such-photos"

    with pytest.raises(CommandError, match=r"source folder .*no-such-photos does not exist"):
        run("analyze", str(catalog_dir), "-s", str(missing), "--workers", "1")

    assert Asset.objects.count() == 0


def test_analyze_with_a_file_as_source_fails_clearly(library, catalog_dir):
    photo = camera_photo(library / "a.jpg")

    with pytest.raises(CommandError, match="is not a folder"):
        run("analyze", str(catalog_dir), "-s", str(photo), "--workers", "1")
    assert Asset.objects.count() == 0


def test_catalog_cannot_be_its_own_source(library):
    with pytest.raises(CommandError, match="cannot be its own source"):
        run("analyze", str(library), "-s", str(library), "--workers", "1")
    assert Asset.objects.count() == 0


def test_catalog_folder_inside_the_source_is_not_scanned(library):
    catalog_dir = library / "vam-catalog"
    camera_photo(library / "a.jpg")
    camera_photo(catalog_dir / "reports" / "stray.jpg", color=(0, 0, 250))

    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    out, _ = run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")

    assert thumbnails(catalog_dir)  # the first run wrote .webp thumbnails inside the source folder...
    paths = list(Asset.objects.values_list("path", flat=True))
    assert paths == [str(library / "a.jpg")]  # ...and neither they nor the stray .jpg were cataloged
    assert "1 file seen: 0 new, 0 changed, 1 unchanged" in out


def test_analyze_no_thumbnails(library, catalog_dir):
    camera_photo(library / "a.jpg")

    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-thumbnails")

    assert Asset.objects.get().width == 96
    assert thumbnails(catalog_dir) == []


def test_analyze_rejects_a_negative_threshold_and_a_bad_submission(library, catalog_dir, tmp_path):
    with pytest.raises(CommandError, match="--threshold"):
        run("analyze", str(catalog_dir), "-s", str(library), "--threshold", "-1")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("analyze", str(catalog_dir), "-s", str(library), "--enqueue", "--wait")
    with pytest.raises(CommandError, match="does not exist"):  # checked before anything is queued
        run("analyze", str(catalog_dir), "-s", str(tmp_path / "nowhere"), "--enqueue")
    assert Asset.objects.count() == 0
    assert not Job.objects.exists()


def test_analyze_without_sources_rescans_the_folders_the_catalog_remembers(tmp_path, catalog_dir):
    phone, camera = tmp_path / "phone", tmp_path / "camera"
    camera_photo(phone / "a.jpg")
    camera_photo(camera / "b.jpg", color=(1, 100, 200))
    camera_photo(camera / "sorted" / "c.jpg", color=(90, 10, 10))
    run("analyze", str(catalog_dir), "-s", str(phone), "-s", str(camera), "--exclude", str(camera / "sorted"))
    camera_photo(phone / "new.jpg", color=(10, 200, 90))  # a photo added since
    camera_photo(camera / "sorted" / "d.jpg", color=(200, 200, 10))  # inside the excluded folder

    out, err = run("analyze", str(catalog_dir), "--workers", "1")

    assert f"rescanning 2 folders: {camera}, {phone}" in err
    assert "3 files seen: 1 new, 0 changed, 2 unchanged" in out
    catalog = Catalog.objects.get()
    assert sorted(Path(path).name for path in catalog.assets.values_list("path", flat=True)) == [
        "a.jpg",
        "b.jpg",
        "new.jpg",
    ]
    job = Job.objects.filter(kind=JobKind.ANALYZE).first()
    assert job is not None and job.params["source_directories"] == [str(camera), str(phone)]


def test_a_source_given_again_is_added_to_the_remembered_ones(tmp_path, catalog_dir):
    phone, camera = tmp_path / "phone", tmp_path / "camera"
    camera_photo(phone / "a.jpg")
    camera_photo(camera / "b.jpg", color=(1, 100, 200))
    run("analyze", str(catalog_dir), "-s", str(phone), "--workers", "1")

    out, _ = run("analyze", str(catalog_dir), "-s", str(camera), "--workers", "1")

    assert "1 file seen: 1 new" in out  # only the folder given was scanned this time...
    assert Catalog.objects.get().source_directories == [str(camera), str(phone)]  # ...and it joined the other
    out, _ = run("analyze", str(catalog_dir), "--workers", "1")
    assert "2 files seen: 0 new, 0 changed, 2 unchanged" in out


def test_analyze_names_the_catalog_as_asked(tmp_path, catalog_dir):
    camera_photo(tmp_path / "Pictures" / "a.jpg")
    run("analyze", str(catalog_dir), "-s", str(tmp_path / "Pictures"), "--name", "Pictures", "--workers", "1")
    assert Catalog.objects.get().name == "Pictures"  # not its folder's name, "catalog"
    run("analyze", str(catalog_dir), "--name", "Family", "--workers", "1")
    assert Catalog.objects.get().name == "Family"
    with pytest.raises(CommandError, match="give the catalog a name"):
        run("analyze", str(catalog_dir), "--name", " ")


@pytest.mark.parametrize("known", [False, True])
def test_analyze_without_any_source_folder_says_how_to_give_one(catalog_dir, known):
    if known:
        catalog_get_or_create(path=catalog_dir)  # a catalog that was never analyzed

    with pytest.raises(CommandError) as failure:
        run("analyze", str(catalog_dir))

    assert str(failure.value) == (
        "no source folders: give one with -s DIR (the catalog remembers them after its first analyze)"
    )
    assert Catalog.objects.count() == int(known)
    assert not Job.objects.exists()


def test_a_remembered_folder_that_is_gone_fails_clearly(tmp_path, catalog_dir):
    card = tmp_path / "card"
    camera_photo(card / "a.jpg")
    run("analyze", str(catalog_dir), "-s", str(card), "--workers", "1")
    shutil.rmtree(card)  # the memory card was taken out

    with pytest.raises(CommandError, match=r"card does not exist \(a folder the catalog remembers: give -s DIR"):
        run("analyze", str(catalog_dir))
    assert Asset.objects.get().status == AssetStatus.OK  # nothing was marked missing


def test_an_analyze_run_here_is_a_job_in_the_history(library, catalog_dir):
    camera_photo(library / "a.jpg")
    plain_photo(library / "b.jpg")

    out, err = run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")

    job = Job.objects.get()
    catalog = Catalog.objects.get()
    assert (job.kind, job.status, job.catalog) == (JobKind.ANALYZE, JobStatus.SUCCESS, catalog)
    assert job.params["source_directories"] == [str(library)] and job.params["workers"] == 1
    assert job.result["new"] == 2 and job.result["catalog"] == catalog.path
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    assert f"job {job.pk} running here" in err
    assert out.splitlines()[-1] == f"job {job.pk} SUCCESS"  # after the summary printed from the job's result
    assert "2 files seen: 2 new" in out


def test_a_busy_catalog_fails_on_one_line_and_the_failed_job_is_kept(library, catalog_dir, caplog):
    camera_photo(library / "a.jpg")
    catalog = catalog_get_or_create(path=catalog_dir)
    db = settings.DATABASES["default"]
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )  # another session holds the catalog, as a running job would
    other.execute("SELECT pg_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk])
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(CommandError) as failure:
            run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    finally:
        other.close()

    job = Job.objects.get()
    assert str(failure.value) == f"job {job.pk} FAILURE: {job.error}"
    assert "is busy" in job.error and "\n" not in job.error and job.error_type == "CatalogBusy"
    assert "Traceback" not in caplog.text  # the reason alone, not the worker log's traceback
    assert not Asset.objects.exists()


# find_duplicates -------------------------------------------------------------------------------------------------


def test_find_duplicates_run_here_is_a_job_with_its_result(library, catalog_dir):
    original = camera_photo(library / "a.jpg")
    (library / "copy of a.jpg").write_bytes(original.read_bytes())
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-duplicates")

    out, _ = run("find_duplicates", str(catalog_dir), "--threshold", "4")

    job = Job.objects.get(kind=JobKind.DUPLICATES)
    assert job.status == JobStatus.SUCCESS and job.catalog == Catalog.objects.get()
    assert job.params == {"catalog_path": str(catalog_dir.resolve()), "similarity_threshold": 4}
    assert job.result["exact_groups"] == 1 and job.result["grouped_files"] == 2
    assert out.startswith("duplicates: 1 exact group, 0 similar groups, 2 files in groups; ")
    assert "threshold 4" in out


# generate_thumbnails ---------------------------------------------------------------------------------------------


def test_generate_thumbnails_run_here_is_a_job_with_its_options(library, catalog_dir):
    camera_photo(library / "a.jpg")
    analyze(catalog_dir, library, thumbnails=False)

    out, _ = run("generate_thumbnails", str(catalog_dir), "--sizes", "64", "--format", "jpeg", "--workers", "1")

    job = Job.objects.get()
    assert (job.kind, job.status, job.catalog) == (JobKind.THUMBNAILS, JobStatus.SUCCESS, Catalog.objects.get())
    assert job.params["format"] == "jpeg" and job.params["sizes"] == [64]
    assert job.result["written"] == 1
    assert "thumbnails written for 1" in out
    assert len(thumbnails(catalog_dir, "jpg")) == 1


def test_generate_thumbnails_fills_in_skips_and_forces(library, catalog_dir):
    first = camera_photo(library / "a.jpg", size=(600, 400))
    camera_photo(library / "b.jpg", color=(20, 200, 20))
    (library / "copy of a.jpg").write_bytes(first.read_bytes())  # same content: one set of thumbnails
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-thumbnails")
    assert thumbnails(catalog_dir) == []

    out, _ = run("generate_thumbnails", str(catalog_dir), "--workers", "1")

    assert "2 distinct files" in out and "0 already had them" in out
    written = thumbnails(catalog_dir)
    assert len(written) == 4  # 2 contents x 2 sizes
    sha_a = Asset.objects.get(path=str(first)).sha256
    for size in (256, 512):
        with Image.open(thumbnail_path(catalog_dir / "thumbnails", size, sha_a)) as image:
            assert image.format == "WEBP" and max(image.size) == size

    # Existing thumbnails are kept: a damaged one stays damaged without --force...
    damaged = thumbnail_path(catalog_dir / "thumbnails", 256, sha_a)
    damaged.write_bytes(b"junk")
    out, _ = run("generate_thumbnails", str(catalog_dir), "--workers", "1")
    assert "2 already had them" in out
    assert damaged.read_bytes() == b"junk"

    # ...and --force rewrites every one.
    out, _ = run("generate_thumbnails", str(catalog_dir), "--workers", "1", "--force")
    assert "0 already had them" in out
    with Image.open(damaged) as image:
        assert image.format == "WEBP" and max(image.size) == 256
    assert thumbnails(catalog_dir) == written


def test_generate_thumbnails_other_sizes_and_jpeg(library, catalog_dir):
    camera_photo(library / "a.jpg", size=(300, 200))
    catalog, _ = analyze(catalog_dir, library, thumbnails=False)
    sha = catalog.assets.get().sha256

    run("generate_thumbnails", str(catalog_dir), "--sizes", "64,128", "--format", "jpeg", "--workers", "1")

    for size in (64, 128):
        with Image.open(thumbnail_path(catalog_dir / "thumbnails", size, sha, "jpeg")) as image:
            assert image.format == "JPEG" and image.size == (size, round(size * 200 / 300))
    assert thumbnails(catalog_dir) == []  # no webp


def test_generate_thumbnails_reports_files_it_cannot_decode(library, catalog_dir):
    data = camera_photo(library / "whole.jpg", size=(200, 150)).read_bytes()
    (library / "half.jpg").write_bytes(data[: len(data) // 2])
    analyze(catalog_dir, library, thumbnails=False)

    out, _ = run("generate_thumbnails", str(catalog_dir), "--workers", "1")

    assert "thumbnails written for 1," in out and "1 could not be decoded" in out


@pytest.mark.parametrize("sizes", ["abc", "256,big", "8", "9000"])
def test_generate_thumbnails_rejects_bad_sizes(library, catalog_dir, sizes):
    camera_photo(library / "a.jpg")
    analyze(catalog_dir, library, thumbnails=False)

    with pytest.raises(CommandError, match="--sizes"):
        run("generate_thumbnails", str(catalog_dir), "--sizes", sizes)
    assert thumbnails(catalog_dir) == []


def test_generate_thumbnails_for_an_unknown_catalog(tmp_path):
    with pytest.raises(CommandError, match="run analyze first"):
        run("generate_thumbnails", str(tmp_path / "nothing-here"))


# jobs ------------------------------------------------------------------------------------------------------------


def test_jobs_lists_the_run_and_shows_it_by_a_short_id(library, catalog_dir):
    camera_photo(library / "a.jpg")
    plain_photo(library / "b.jpg")
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    job = Job.objects.get()
    short = str(job.pk)[:8]

    listing, _ = run("jobs")

    header, row, footer = listing.splitlines()
    assert header.split() == ["ID", "KIND", "STATUS", "PROGRESS", "CATALOG", "CREATED", "DURATION"]
    assert row.split()[:6] == [short, "analyze", "SUCCESS", "2/2", "100%", "catalog"]
    assert footer == "0 active jobs, 1 finished job"
    assert run("jobs", "list")[0] == listing

    shown, _ = run("jobs", "show", short)

    lines = shown.splitlines()
    assert lines[:4] == [
        f"Job:      {job.pk}",
        "Kind:     analyze",
        "Status:   SUCCESS",
        f"Catalog:  catalog ({catalog_dir.resolve()})",
    ]
    assert "Parameters:" in lines
    assert f"  source directories: {library}" in lines
    assert "  detect duplicates: yes" in lines and "  similarity threshold: not set" in lines
    assert "  exclude directories: none" in lines
    assert "  new: 2" in lines and "  duplicates exact groups: 0" in lines  # nested values flattened
    assert any(line.startswith("Duration: ") and line.endswith("s") for line in lines)
    assert not any("{" in line or "True" in line for line in lines)  # plain words, no Python dict
    assert run("jobs", "show", str(job.pk))[0] == shown


def test_jobs_lists_active_ones_first_and_the_latest_finished(catalog_dir):
    catalog = catalog_get_or_create(path=catalog_dir)
    other = catalog_get_or_create(path=catalog_dir.parent / "other")
    finished = [
        Job.objects.create(kind=JobKind.DUPLICATES, status=JobStatus.SUCCESS, catalog=catalog) for _ in range(3)
    ]
    running = Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, catalog=catalog, phase="analyze", current=318, total=636
    )
    Job.objects.create(kind=JobKind.ORGANIZE, status=JobStatus.FAILURE, catalog=other)

    out, _ = run("jobs", "--limit", "1", "--catalog", str(catalog_dir))

    rows = out.splitlines()[1:-1]
    assert [row.split()[0] for row in rows] == [str(running.pk)[:8], str(finished[-1].pk)[:8]]
    assert "318/636 50%" in rows[0]
    assert out.splitlines()[-1] == "1 active job, 3 finished jobs (the latest 1 shown: --all or --limit N for more)"
    out, _ = run("jobs", "--all")
    assert len(out.splitlines()) == 1 + 5 + 1
    assert out.splitlines()[-1] == "1 active job, 4 finished jobs"


def test_jobs_cancel_cancels_a_pending_job(catalog_dir):
    job = Job.objects.create(kind=JobKind.ANALYZE, params={"catalog_path": str(catalog_dir)})

    out, _ = run("jobs", "cancel", str(job.pk)[:8])

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested_at is not None
    assert out.strip() == f"job {job.pk} CANCELLED: cancelled before it started"
    with pytest.raises(CommandError, match="has already ended \\(CANCELLED\\): nothing to cancel"):
        run("jobs", "cancel", str(job.pk))


def test_jobs_with_an_unknown_short_or_ambiguous_id_fail_clearly():
    first = Job.objects.create(id=uuid.UUID("12345678-aaaa-4000-8000-000000000001"), kind=JobKind.ANALYZE)
    Job.objects.create(id=uuid.UUID("12345678-bbbb-4000-8000-000000000002"), kind=JobKind.DUPLICATES)

    with pytest.raises(CommandError, match="^no job 0123abcd$"):
        run("jobs", "show", "0123abcd")
    with pytest.raises(CommandError, match="^no job not-a-job-id$"):
        run("jobs", "cancel", "not-a-job-id")
    with pytest.raises(CommandError, match="at least 8 characters of the job id, got '1234'"):
        run("jobs", "show", "1234")
    with pytest.raises(CommandError, match="12345678 starts several job ids: give more of it"):
        run("jobs", "show", "12345678")
    for more in ("12345678-aa", "12345678aa", "12345678AAAA40008000000000000001"):  # with or without hyphens
        out, _ = run("jobs", "show", more)
        assert out.startswith(f"Job:      {first.pk}\nKind:     analyze\n")


# catalogs --------------------------------------------------------------------------------------------------------


def test_catalogs_prints_each_catalogs_figures(library, catalog_dir, tmp_path):
    original = camera_photo(library / "a.jpg")
    (library / "copy of a.jpg").write_bytes(original.read_bytes())
    plain_photo(library / "b.jpg")
    (library / "empty.jpg").write_bytes(b"")
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    catalog_get_or_create(path=tmp_path / "archive")

    out, _ = run("catalogs")

    lines = out.splitlines()
    assert lines[0] == "2 catalogs"
    assert f"archive  {tmp_path / 'archive'}" in lines and "  sources:          none yet" in lines
    assert "  last analyzed:    never" in lines
    at = lines.index(f"catalog  {catalog_dir.resolve()}")
    figures = dict(line.strip().split(": ", 1) for line in lines[at + 1 : at + 7])
    assert figures["sources"].strip() == str(library)
    assert figures["files"].strip().startswith("4 (3 photos, 0 videos), ")
    assert figures["problems"].strip() == "1"
    assert figures["no reliable date"].strip() == "2 (0 with no date, 2 dated only by the file's modification time)"
    assert figures["duplicate groups"].strip() == "1 (1 exact, 0 similar; 1 to review)"
    assert figures["last analyzed"].strip()[:2] == "20"


def test_catalogs_without_any():
    out, _ = run("catalogs")
    assert out.strip() == "no catalogs yet: create one with `manage.py analyze CATALOG_PATH -s DIR`"


# Ctrl-C ----------------------------------------------------------------------------------------------------------


def test_ctrl_c_cancels_the_job_run_here_and_keeps_the_finished_files(tmp_path):
    photos, catalog_dir = tmp_path / "photos", tmp_path / "catalog"
    photos.mkdir()
    pixels = np.random.default_rng(7).integers(0, 256, size=(1500, 2000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photos / "IMG_0000.jpg", quality=85)  # slow to decode: the run can be stopped
    for index in range(1, FILES):  # hard links: each path is analyzed on its own, without the disk space
        os.link(photos / "IMG_0000.jpg", photos / f"IMG_{index:04d}.jpg")
    db = settings.DATABASES["default"]
    env = os.environ | {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    command = [sys.executable, "manage.py", "analyze", str(catalog_dir), "-s", str(photos), "--workers", "2"]
    # A session of its own, so that Ctrl-C can reach the whole group as a terminal sends it (the pool's workers too).
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if Job.objects.filter(phase="analyze", current__gte=5).exists():
                break
            time.sleep(0.05)
        assert process.poll() is None, "analyze finished before Ctrl-C: raise FILES"
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    job = Job.objects.get()
    assert process.returncode == 1
    assert err.strip().splitlines()[-1] == f"CommandError: job {job.pk} CANCELLED: cancelled; finished work is kept"
    assert job.status == JobStatus.CANCELLED and job.result["analyzed"] < FILES
    assert out.splitlines()[-1] == f"job {job.pk} CANCELLED"
    kept = Asset.objects.filter(catalog__path=str(catalog_dir))
    assert 0 < kept.count() < FILES
    assert not kept.exclude(problem_kind="").exists()  # no file was cut short by the pool's workers dying


# ensure_admin ----------------------------------------------------------------------------------------------------


def test_ensure_admin_creates_one_superuser_once(monkeypatch):
    monkeypatch.setenv("VAM_ADMIN_PASSWORD", "correct horse battery staple")
    User = get_user_model()

    out, _ = run("ensure_admin")

    admin = User.objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    assert admin.check_password("correct horse battery staple")
    assert "Created admin account 'admin'" in out
    assert "correct horse battery staple" not in out  # a password from the environment is never printed

    monkeypatch.setenv("VAM_ADMIN_PASSWORD", "another password")
    out, _ = run("ensure_admin")
    assert out == ""
    assert User.objects.count() == 1
    assert User.objects.get().check_password("correct horse battery staple")


def test_ensure_admin_without_a_password_prints_a_generated_one(monkeypatch):
    monkeypatch.delenv("VAM_ADMIN_PASSWORD", raising=False)

    out, _ = run("ensure_admin", "--username", "boss")

    admin = get_user_model().objects.get(username="boss")
    password = out.split("shown only this once: ", 1)[1].strip()
    assert len(password) >= 12 and admin.check_password(password)


def test_generate_thumbnails_reports_files_changed_since_analyze(library, catalog_dir):
    photo = camera_photo(library / "a.jpg")
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-thumbnails")
    camera_photo(photo, color=(10, 200, 90))  # edited after the analysis

    out, _ = run("generate_thumbnails", str(catalog_dir), "--workers", "1")

    assert "1 changed since they were analyzed: run analyze again" in out
    assert "thumbnails written for 0" in out
