"""The management commands as a user runs them: analyze, generate_thumbnails, ensure_admin."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, Catalog
from jobs.models import Job
from tests.services.helpers import analyze, camera_photo, plain_photo

pytestmark = pytest.mark.django_db


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

    assert "3/3 100%" in err  # the progress bar reached the end
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

    assert "2 files seen: 0 new, 0 changed, 2 unchanged, 0 known content, 0 marked missing" in out
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
    assert "1 files seen: 0 new, 0 changed, 1 unchanged" in out


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


# generate_thumbnails ---------------------------------------------------------------------------------------------


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
