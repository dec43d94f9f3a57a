"""The benchmark commands run and print their figures (speed itself is measured in bench/, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import make_jpeg

REPO = Path(__file__).resolve().parents[1]


def test_analyze_benchmark_prints_engine_and_naive_figures(tmp_path):
    for index in range(3):
        make_jpeg(tmp_path / "photos" / f"IMG_{index}.jpg", size=(320, 240), color=(60 * index, 100, 200))
    command = [sys.executable, "-m", "bench.analyze", "--corpus", str(tmp_path / "photos"), "--repeat", "1"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert figures["files"] == "3"
    assert float(figures["engine_files_per_s_1proc"]) > 0
    assert float(figures["naive_files_per_s"]) > 0
    assert float(figures["ratio_1proc"]) > 0


def test_duplicates_benchmark_prints_figures_and_methods_agree():
    command = [sys.executable, "-m", "bench.duplicates", "speed", "--sizes", "2000", "--methods", "mih,faiss"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    for method in ("mih", "faiss"):
        for key in ("search_s", "verify_s", "group_s", "total_s", "peak_rss_mb"):
            assert float(figures[f"{method}_2000_{key}"]) >= 0
        assert int(figures[f"{method}_2000_pairs"]) > 0
        assert int(figures[f"{method}_2000_groups"]) > 0
    assert figures["faiss_2000_pairs"] == figures["mih_2000_pairs"]
    assert figures["pairs_agree"] == "yes"


def test_progress_benchmark_prints_latency_and_writes():
    # The bench makes its own database (DATABASE_URL's name + "_bench_progress"), never the test database.
    command = [sys.executable, "-m", "bench.progress", "--events", "30", "--interval", "0.02"]
    command += ["--files", "1000", "--rates", "60,2000"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert figures["events"] == "30"
    for key in ("latency_median_s", "latency_p95_s", "latency_max_s", "list_latency_p95_s"):
        assert float(figures[key]) >= 0
    for rate in ("60", "2000"):
        assert float(figures[f"writes_per_1000_files_{rate}fps"]) > 0
    assert figures["target_latency"] in ("pass", "fail")
    assert figures["target_writes"] in ("pass", "fail")


def test_pages_benchmark_prints_p50_and_p95_per_request():
    # Its own database (DATABASE_URL's name + "_bench_pages") and its own synthetic catalog of the size asked.
    command = [sys.executable, "-m", "bench.pages", "--assets", "3000", "--repeat", "2"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert figures["assets"] == "3000"
    for key in ("grid_first_page", "grid_page_at_90%", "grid_folder", "grid_in_duplicate_groups"):
        assert 0 < float(figures[f"{key}_p50_ms"]) <= float(figures[f"{key}_p95_ms"])
    assert figures["target"] in ("pass", "fail")


def test_dates_benchmark_prints_coverage_and_speed():
    command = [sys.executable, "-m", "bench.dates", "--names", "300", "--repeat", "1"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert figures["paths"] == "300"
    assert 0 < int(figures["dated_by_name"]) < 300 and 0 < int(figures["dated_by_folder"]) < 300
    assert float(figures["filename_names_per_s"]) > 0 and float(figures["folders_paths_per_s"]) > 0
    assert "IMG_0001.JPG                     —" in completed.stdout  # a counter is never a date
