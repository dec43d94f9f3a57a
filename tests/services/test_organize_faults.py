"""Fault injection: a real ``manage.py organize --operation move`` killed with -9 at random instants of its
execution, again and again, must never lose a file; resuming finishes it, and a rollback (killed too) gives back
the byte-identical library. The harness is ``bench/organize_faults.py``, whose 200-kill run goes in the notes."""

from __future__ import annotations

import random

import pytest
from django.conf import settings

from bench.organize_faults import Campaign

KILLS = 20


@pytest.mark.django_db(transaction=True)
def test_a_move_killed_at_random_instants_loses_nothing_resumes_and_rolls_back(tmp_path):
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    seed = random.randrange(1 << 30)
    campaign = Campaign(tmp_path, url, files=24, pause=0.01, seed=seed)
    while campaign.report.kills < KILLS:
        campaign.round(max_kills=7)
    report = campaign.report
    context = f"seed {seed}: {report.line()}; {report.problems[:5]}"
    assert report.problems == [], context
    assert report.lost == 0 and report.checks == report.kills >= KILLS, context
    # Each round's move was resumed to its end, and each rollback gave back the library byte for byte.
    assert report.resumes_completed == report.rollbacks_identical == report.rounds, context
    # Kills landed while steps were in flight, not only between them.
    assert sum(report.landed.values()) > 0, context
