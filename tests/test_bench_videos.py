"""``python -m bench.videos`` prints the frames sampled and the seconds per video."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_videos_benchmark_prints_seconds_per_video(tmp_path):
    command = [sys.executable, "-m", "bench.videos", "--lengths", "3", "--hd-seconds", "0", "--hour-seconds", "20"]
    command += ["--pairs", "300"]
    command += ["--work", str(tmp_path), "--repeat", "1", "--corpus", str(REPO / "tests" / "fixtures")]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    figures = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line and " " not in line)
    assert figures["generated_videos"] == "2" and figures["generated_failed"] == "0"
    assert 0 < float(figures["generated_seconds_per_video"]) <= float(figures["generated_seconds_per_video_max"])
    assert float(figures["generated_seconds_per_video_sought"]) > 0
    assert float(figures["generated_seconds_per_video_one_per_process"]) > 0
    assert figures["pairs_signatures"] == "300" and int(figures["pairs_found"]) == 300 // 11
    assert figures["long_duration_s"] == "20" and 7 <= int(figures["long_frames"]) <= 30
    assert int(figures["corpus_videos"]) >= 1  # tests/fixtures holds a small camera .mov
