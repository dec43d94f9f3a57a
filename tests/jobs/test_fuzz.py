"""The REST API fuzzed from the OpenAPI schema it serves, as an outside tester would: schemathesis, every check,
against a real daphne server on the test database, with an API token; every operation gets bounded examples
(valid and invalid, boundary cases too) from a fixed seed. No answer may be a server error, carry an undocumented
status code, content type or header, or break its schema; wrong input must be refused and right input taken.

What a schema cannot say is told here: the submit operations check folders on disk (a source must exist inside
the library roots, a catalog must be known, a job must have a plan), and the lists take only a cursor they gave
(and a month only with its year), and a webhook's URL must be one VAM posts to (a real host name, not this
server), so a well-formed request may be refused with 400 there: those operations alone also take 400 for
well-formed data.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from catalog.services.analyze import catalog_analyze, catalog_get_or_create
from tests.jobs.test_browser import free_port
from tests.jobs.test_websockets import REPO, worker_env
from tests.services.helpers import camera_photo

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 20261203
EXAMPLES = 10
# Operations whose refusals depend on the disk, the catalogs or an earlier answer, not on the request's shape.
STATE_CHECKED = ["/api/jobs/analyze", "/api/jobs/organize", "/api/jobs/thumbnails", "/api/jobs/{job_id}/resume",
                 "/api/jobs/{job_id}/rollback", "/api/catalogs/{catalog_id}/assets",
                 "/api/catalogs/{catalog_id}/duplicates", "/api/webhooks", "/api/webhooks/{hook_id}"]  # fmt: skip
CONFIG = "".join(
    f"""
[[operations]]
include-path = "{path}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
"""
    for path in STATE_CHECKED
)


@pytest.fixture
def served(tmp_path, admin_user):
    """daphne on the test database, with a small analyzed catalog to read and an API token."""
    roots = tmp_path / "library"
    camera_photo(roots / "photos" / "IMG_0001.jpg")
    catalog_analyze(catalog=catalog_get_or_create(path=roots / "catalog"), sources=[str(roots / "photos")], workers=1)
    port = free_port()
    env = worker_env() | {
        "VAM_LIBRARY_ROOTS": str(roots.resolve()),
        "VAM_ALLOWED_HOSTS": "127.0.0.1",
        "VAM_DATA_DIR": str(tmp_path / "data"),
        "VAM_LOGIN_FAILURE_LIMIT": "1000000",  # the fuzzer sends wrong tokens on purpose: no lockout of the run
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vamsite.asgi:application"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", Token.objects.create(user=admin_user).key
    finally:
        process.kill()
        process.wait()


def test_every_operation_answers_what_its_schema_says(served, tmp_path, queue):
    url, token = served
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "--no-color", "run",
            f"{url}/api/schema/?format=json", "--wait-for-schema", "30", "-H", f"Authorization: Token {token}",
            "--checks", "all", "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
            "--seed", str(SEED), "--generation-database", "none", "--workers", "1", "--request-timeout", "20",
            "--report-dir", str(tmp_path / "report"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, found(run.stdout) + run.stderr[-4000:]
    selected, listed = re.search(r"Selected: (\d+)/(\d+)", run.stdout).groups()
    tested = re.search(r"Tested: (\d+)", run.stdout).group(1)
    assert selected == listed == tested and int(tested) >= 20, run.stdout[-4000:]  # every operation was tried


def found(output: str) -> str:
    """What schemathesis reports as wrong (its failures and errors, each with a curl to reproduce it)."""
    start = min((output.find(title) for title in ("= FAILURES =", "= ERRORS =") if title in output), default=0)
    return output[start : start + 12000]
