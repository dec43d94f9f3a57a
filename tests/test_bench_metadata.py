"""``python -m bench.metadata`` prints the coverage table and the files/s of each reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_metadata_benchmark_prints_coverage_and_speed():
    command = [sys.executable, "-m", "bench.metadata", "--files", "tests/fixtures/exiftool", "--repeat", "1"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "| cr3 | 1 | exiftool | 1 | 1 | 1 | 1 | 1 |" in completed.stdout  # date, make, model, lens, ISO
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert float(figures["files_per_s_exifread_pillow"]) > 0 and float(figures["files_per_s_exiftool"]) > 0
    assert int(figures["fields_found_exiftool"]) > int(figures["fields_found_exifread_pillow"])
