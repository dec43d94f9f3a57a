"""The jobs REST API: the DESIGN.md paths and fields, its errors (never a 500) and its login."""

from __future__ import annotations

import json

import pytest
from rest_framework.authtoken.models import Token

from catalog.models import Catalog
from jobs.models import Job, JobStatus
from tests.jobs.test_jobs import STATUS_KEYS

pytestmark = pytest.mark.django_db


def post(client, path: str, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


def analyze_body(roots) -> dict:
    return {"catalog_path": str(roots / "catalog"), "source_directories": [str(roots / "photos")]}


def test_every_endpoint_needs_a_login(client):
    for method, path in [
        ("get", "/api/jobs"),
        ("get", "/api/schema/"),
        ("get", "/api/jobs/00000000-0000-0000-0000-000000000000"),
        ("delete", "/api/jobs/00000000-0000-0000-0000-000000000000"),
        ("post", "/api/jobs/analyze"),
        ("post", "/api/jobs/organize"),
        ("post", "/api/jobs/thumbnails"),
        ("post", "/api/jobs/00000000-0000-0000-0000-000000000000/resume"),
        ("post", "/api/jobs/00000000-0000-0000-0000-000000000000/rollback"),
        ("get", "/api/jobs/00000000-0000-0000-0000-000000000000/plan"),
    ]:
        response = getattr(client, method)(path, HTTP_ACCEPT="application/json")
        assert response.status_code == 401, (method, path)
        assert "error" in json.loads(response.content)
    assert not Job.objects.exists()


def test_submit_analyze_with_a_token_answers_202_and_queues_the_job(
    client, admin_user, roots, queue, django_capture_on_commit_callbacks
):
    token = Token.objects.create(user=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/jobs/analyze", analyze_body(roots), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job_id", "status", "message"} and body["status"] == "PENDING"
    job = Job.objects.get(pk=body["job_id"])
    assert queue.job_ids == [body["job_id"]] and job.created_by == admin_user
    assert job.params["source_directories"] == [str((roots / "photos").resolve())]
    assert job.params["detect_duplicates"] is True and job.params["similarity_threshold"] is None


def test_job_status_list_and_cancel(admin_client, roots, queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(admin_client, "/api/jobs/analyze", analyze_body(roots)).json()["job_id"]
    status = admin_client.get(f"/api/jobs/{job_id}").json()
    assert list(status) == STATUS_KEYS
    assert (status["job_id"], status["kind"], status["status"]) == (job_id, "analyze", "PENDING")

    listed = admin_client.get("/api/jobs").json()
    assert listed["count"] == 1 and listed["results"][0]["job_id"] == job_id

    cancelled = admin_client.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == JobStatus.CANCELLED
    assert queue.count == 0
    assert admin_client.get("/api/jobs").json()["count"] == 0  # active jobs only
    history = admin_client.get("/api/jobs", {"status": "all", "page_size": 1}).json()
    assert history["count"] == 1 and history["results"][0]["status"] == "CANCELLED"


def test_users_see_only_their_own_jobs(client, django_user_model, admin_user):
    theirs = Job.objects.create(kind="analyze", created_by=admin_user)
    user = django_user_model.objects.create_user("dana", password="pw")
    client.force_login(user)
    assert client.get(f"/api/jobs/{theirs.pk}").status_code == 404
    assert client.delete(f"/api/jobs/{theirs.pk}").status_code == 404
    assert client.get("/api/jobs").json()["count"] == 0
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.PENDING


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{not json", "JSON parse error"),
        ("[]", "the request must be a JSON object"),
        ("null", "No data provided"),
        ({"source_directories": ["/x"]}, "catalog_path: give the catalog folder"),
        ({"catalog_path": 5, "source_directories": "photos"}, "source_directories: must be a list of folders"),
        ({"catalog_path": "/c", "source_directories": []}, "source_directories: give at least one source folder"),
        ({"catalog_path": "/c", "source_directories": [["nested"]]}, "source_directories: must be text"),
        ({"catalog_path": "relative", "source_directories": ["PHOTOS"]}, "catalog_path: must be an absolute path"),
        (
            {"catalog_path": "/c", "source_directories": ["photos"]},
            "source_directories: photos must be an absolute path",
        ),
        ({"catalog_path": "/c", "source_directories": ["/etc"]}, "outside the library roots"),
        ({"catalog_path": "/c", "source_directories": ["PHOTOS/../../.."]}, "outside the library roots"),
        ({"catalog_path": "/c", "source_directories": ["PHOTOS/missing"]}, "missing is not an existing folder"),
        ({"catalog_path": "/c", "source_directories": ["PHOTOS\x00"]}, "Null characters are not allowed"),
        (
            {"catalog_path": "/etc/vam", "source_directories": ["PHOTOS"]},
            "must be inside the data folder or the library",
        ),
        (
            {"catalog_path": "CATALOG", "source_directories": ["PHOTOS"], "similarity_threshold": "high"},
            "similarity_threshold: must be a whole number",
        ),
        (
            {"catalog_path": "CATALOG", "source_directories": ["PHOTOS"], "similarity_threshold": 99},
            "must be between 0 and 24",
        ),
        (
            {"catalog_path": "CATALOG", "source_directories": ["PHOTOS"], "workers": -3},
            "workers: must be between 1 and 64",
        ),
        (
            {"catalog_path": "CATALOG", "source_directories": ["PHOTOS"], "detect_duplicates": "maybe"},
            "must be true or false",
        ),
        (  # a name longer than a file system holds: refused here, not by a job that fails later
            {"catalog_path": "CATALOG/" + "x" * 300, "source_directories": ["PHOTOS"]},
            "catalog_path: has a folder or file name too long for the file system (at most 255 bytes each)",
        ),
        (
            {"catalog_path": "CATALOG", "source_directories": ["PHOTOS/" + "é" * 130]},  # 260 bytes in UTF-8
            "too long for the file system",
        ),
    ],
)
def test_bad_analyze_requests_answer_400_with_a_clear_error(admin_client, roots, body, says):
    if isinstance(body, dict):
        text = json.dumps(body).replace("PHOTOS", str(roots / "photos")).replace("CATALOG", str(roots / "cat"))
        body = text
    response = post(admin_client, "/api/jobs/analyze", body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert says in error
    assert not any(noise in error for noise in ("non_field_errors", "ErrorDetail", "{", "[", "'"))  # words only
    assert not Job.objects.exists()


def test_thumbnails_need_a_known_catalog_and_sane_options(
    admin_client, roots, queue, django_capture_on_commit_callbacks
):
    response = post(admin_client, "/api/jobs/thumbnails", {"catalog_path": str(roots / "nothing")})
    assert response.status_code == 400 and "no catalog at" in response.json()["error"]
    response = post(admin_client, "/api/jobs/thumbnails", {"catalog_path": "~nobody-here/x"})  # was a 500
    assert response.status_code == 400 and "must be an absolute path" in response.json()["error"]
    catalog = Catalog.objects.create(path=str(roots / "cat"), name="cat")
    for bad, says in (
        ({"sizes": [8, 9000]}, "invalid request: sizes: each size must be between 16 and 4096"),
        ({"sizes": ["big"]}, "invalid request: sizes: each size must be a whole number"),
        ({"sizes": "256"}, "invalid request: sizes: must be a list of sizes in pixels"),
        ({"sizes": []}, "invalid request: sizes: give at least one size"),
        ({"quality": 0}, "invalid request: quality: must be between 1 and 100"),
        ({"force": [1]}, "invalid request: force: must be true or false"),
    ):
        response = post(admin_client, "/api/jobs/thumbnails", {"catalog_path": catalog.path} | bad)
        assert response.status_code == 400 and response.json()["error"] == says, (bad, response.json())
    with django_capture_on_commit_callbacks(execute=True):
        body = {"catalog_path": catalog.path, "sizes": [128], "quality": 70, "force": True}
        response = post(admin_client, "/api/jobs/thumbnails", body)
    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["job_id"]).params == body


def test_organize_is_validated_and_refused_clearly_then_queued(
    admin_client, roots, queue, django_capture_on_commit_callbacks
):
    photos = roots / "photos"
    catalog = Catalog.objects.create(path=str(roots / "cat"), name="cat", source_directories=[str(photos)])
    organize = {"catalog_path": catalog.path, "output_directory": str(roots / "sorted")}
    refusals = [
        ({"output_directory": "/tmp/out"}, "output_directory: /tmp/out is outside the library roots"),
        ({"output_directory": "sorted"}, "output_directory: must be an absolute path"),
        ({"output_directory": ""}, "output_directory: give the output folder"),
        ({"output_directory": str(photos / "sorted")}, "output_directory: the output"),  # … is inside the source
        ({"output_directory": str(roots)}, "is inside the output"),
        ({"output_directory": str(roots / "cat" / "x")}, "inside the catalog folder"),
        ({"output_directory": str(roots / ("y" * 256))}, "output_directory: has a folder or file name too long"),
        ({"operation": "move"}, "invalid request: this catalog has never been analyzed"),
        ({"operation": "shred"}, "operation: must be one of copy, move, hardlink"),
        ({"naming_strategy": "random"}, "naming_strategy: must be one of date_time_checksum"),
        ({"undated_folder": "../escape"}, "undated_folder: must be a plain folder name"),
    ]
    for change, message in refusals:
        response = post(admin_client, "/api/jobs/organize", organize | change)
        error = response.json()["error"]
        assert response.status_code == 400 and message in error and "non_field_errors" not in error, (change, error)
    assert not Job.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_client, "/api/jobs/organize", organize | {"dry_run": True})
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.kind == "organize" and queue.job_ids == [str(job.pk)]
    assert job.params == organize | {
        "output_directory": str((roots / "sorted").resolve()), "operation": "copy", "directory_structure": "YYYY/MM",
        "naming_strategy": "date_time_checksum", "dry_run": True, "verify_checksums": True,
        "skip_duplicates": False, "only_redundant": False, "undated_folder": "undated", "exclude_output": False,
    }  # fmt: skip


def test_unknown_and_malformed_job_ids_are_404(admin_client):
    for job_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1%00"):
        for method in ("get", "delete"):
            response = getattr(admin_client, method)(f"/api/jobs/{job_id}")
            assert response.status_code == 404 and "no job" in response.json()["error"]


def test_openapi_schema_describes_the_jobs_api_and_every_error_answer(admin_client):
    response = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert {
        "/api/jobs",
        "/api/jobs/analyze",
        "/api/jobs/organize",
        "/api/jobs/thumbnails",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/stream",
    } <= set(schema["paths"])
    operations = [
        (path, method, operation) for path, item in schema["paths"].items() for method, operation in item.items()
    ]
    for path, method, operation in operations:
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
        assert ("404" in operation["responses"]) == ("{" in path or path == "/api/jobs"), (method, path)
    stream = schema["paths"]["/api/jobs/{job_id}/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    # GET /api/jobs is paginated, as it answers
    listing = schema["paths"]["/api/jobs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][listing["$ref"].rsplit("/", 1)[1]]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    answer = admin_client.get("/api/jobs").json()
    assert set(answer) == {"count", "next", "previous", "results"}


def test_the_api_answers_json_for_an_address_that_names_nothing_and_for_bad_paging(admin_client):
    for path in ("/api/assets/not-a-number", "/api/nothing-here", "/api/jobs?page=9"):
        response = admin_client.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
        assert response.json()["error"]
    for query in ("status=running", "page_size=0", "page_size=201", "page_size=ten"):
        response = admin_client.get(f"/api/jobs?{query}")
        assert response.status_code == 400 and response.json()["error"].startswith("invalid request: "), query
    assert admin_client.get("/catalogs/not-a-number/").status_code == 404  # a page keeps Django's page


def test_a_server_failure_under_the_api_answers_json_and_the_pages_keep_their_page(admin_user, monkeypatch):
    from django.test import Client

    from catalog import api as catalog_api

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(catalog_api.CatalogList, "get", broken)
    client = Client(raise_request_exception=False)  # as a browser or a script meets it
    client.force_login(admin_user)
    response = client.get("/api/catalogs")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": "the server failed to answer this request; the failure is in its log"}
    catalog = Catalog.objects.create(path="/data/family", name="family")
    monkeypatch.setattr("catalog.pages.catalog_stats", broken)  # a page that fails keeps an HTML answer
    page = client.get(f"/catalogs/{catalog.pk}/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_an_analyze_asked_through_the_api_never_reads_past_the_roots(
    client, admin_user, roots, queue, tmp_path, django_capture_on_commit_callbacks
):
    from catalog.models import Asset
    from jobs.tasks import run_job
    from tests.services.helpers import camera_photo

    photos, outside = roots / "photos", tmp_path / "outside"
    camera_photo(photos / "mine.jpg")
    camera_photo(outside / "secret.jpg", color=(10, 200, 30))
    camera_photo(outside / "trip" / "far.jpg", color=(200, 200, 30))
    (photos / "elsewhere").symlink_to(outside)  # a folder link out of the root
    (photos / "secret.jpg").symlink_to(outside / "secret.jpg")  # a file link out of it
    token = Token.objects.create(user=admin_user)
    body = analyze_body(roots) | {"workers": 1}
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/jobs/analyze", body, HTTP_AUTHORIZATION=f"Token {token.key}")
    run_job(response.json()["job_id"])  # what the worker that takes it runs

    assert Job.objects.get(pk=response.json()["job_id"]).status == JobStatus.SUCCESS
    assets = {asset.path.rsplit("/", 1)[1]: asset for asset in Asset.objects.all()}
    assert set(assets) == {"mine.jpg", "secret.jpg", "elsewhere"}  # far.jpg was never reached
    for name in ("secret.jpg", "elsewhere"):
        leaked = assets[name]
        assert leaked.problem_kind == "outside_roots" and leaked.sha256 == "" and leaked.width is None
        reply = client.get(f"/api/assets/{leaked.pk}/thumbnail", HTTP_AUTHORIZATION=f"Token {token.key}")
        assert reply.status_code == 404
        assert client.get(f"/api/assets/{leaked.pk}", HTTP_AUTHORIZATION=f"Token {token.key}").json()["sha256"] == ""
    assert assets["mine.jpg"].status == "ok" and len(assets["mine.jpg"].sha256) == 64
