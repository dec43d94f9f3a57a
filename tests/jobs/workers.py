"""Real RQ worker processes for the tests: started in a session of their own on the test database, killed whole
with -9 as a lost machine would be."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds: only so that a broken test fails instead of hanging
FORKING_WORKER = [
    sys.executable, "manage.py", "rqworker", "default", "--burst", "--worker-class", "jobs.worker.VamWorker",
]  # fmt: skip


def worker_command(*queues: str, simple: bool = False, burst: bool = False) -> list[str]:
    """``manage.py rqworker`` on ``queues``: a forking ``VamWorker`` (or ``VamSimpleWorker``) that keeps running
    until it is killed, unless ``burst``."""
    worker_class = "jobs.worker.VamSimpleWorker" if simple else "jobs.worker.VamWorker"
    return [sys.executable, "manage.py", "rqworker", *queues, "--worker-class", worker_class] + (
        ["--burst"] if burst else []
    )


class WorkerProcess:
    """A real RQ worker process in a session of its own, logging to a file."""

    def __init__(self, command: list[str], log: Path, stdin=None, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        db = settings.DATABASES["default"]
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        env = (
            os.environ
            | {
                "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}",  # the test DB
                "REDIS_URL": settings.REDIS_URL,
                "SECRET_KEY": "test",
            }
            | (env or {})
        )
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def exited(self) -> bool:
        return self.process.poll() is not None

    def wait(self) -> int:
        return self.process.wait(timeout=TIMEOUT)

    def kill(self) -> None:
        """SIGKILL the worker and its work-horse, as when their machine goes away, and wait until they are gone.

        RQ puts each work-horse in a process group of its own: killing the worker's group alone leaves the horse
        running on as an orphan, so the groups of all the worker's descendants are killed.
        """
        table = processes()
        members = [self.pid, *descendants(self.pid, table)]
        for group in {int(table[pid][2]) for pid in members if pid in table}:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=TIMEOUT)
        wait_until(lambda: not any(alive(pid) for pid in members), "the killed processes to be gone")


def proc_stat(pid: int) -> list[str] | None:
    """State, parent and process group of a process (fields 3, 4, 5 of /proc/PID/stat), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()[:3]


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def processes() -> dict[int, list[str]]:
    table = {int(name): proc_stat(int(name)) for name in os.listdir("/proc") if name.isdigit()}
    return {pid: stat for pid, stat in table.items() if stat is not None}


def children(pid: int, table: dict[int, list[str]] | None = None) -> list[int]:
    table = processes() if table is None else table
    return [child for child, stat in table.items() if int(stat[1]) == pid and stat[0] not in ("Z", "X")]


def descendants(pid: int, table: dict[int, list[str]]) -> list[int]:
    found = children(pid, table)
    for child in list(found):
        found += descendants(child, table)
    return found


def all_descendants(pid: int) -> set[int]:
    """Every live process below ``pid``: its work-horse, the analysis pool's forkserver, tracker and workers."""
    return set(descendants(pid, processes()))


def wait_until(check: Callable[[], object], what: str, worker: WorkerProcess | None = None):
    """Poll ``check`` until it returns something true, and return that."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if worker is not None and worker.exited():
            value = check()
            if value:
                return value
            pytest.fail(f"the worker exited ({worker.process.returncode}) before {what}:\n{worker.log()}")
        time.sleep(0.02)
    pytest.fail(f"gave up waiting for {what}" + (f":\n{worker.log()}" if worker else ""))
