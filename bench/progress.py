"""Benchmark live progress: latency from a worker's progress call to a websocket client, and database writes.

Usage (from the repository root; needs Postgres and Redis)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vam REDIS_URL=redis://127.0.0.1:6379/0 \\
        python -m bench.progress [--events 400] [--interval 0.05] [--files 1000,10000] [--rates 10,30,60,200,2000]

The run uses its own database on the ``DATABASE_URL`` server: the URL's database name with ``_bench_progress``
appended (kept as it is when it already ends so), created when missing and migrated, so it never touches the
database it was pointed at nor the test suite's. ``REDIS_URL`` selects the real channels-redis layer (the
in-memory one does not cross processes). ``SECRET_KEY`` is made up for the run when unset. The rows the run
creates (a user, its session, the jobs) are deleted at the end.

*Latency*: a daphne server (``vamsite.asgi:application``, a child process on a free port) and two websocket
clients over TCP (another child process, without Django: autobahn's asyncio client, autobahn comes with daphne),
logged in with a session cookie and the ``Origin`` header a browser sends: one on the job's socket
``/ws/jobs/<id>/``, one on the all-jobs socket ``/ws/jobs/`` (its user is not staff, so the consumer checks
visibility in the database for every event, as it does for every user who is not staff). Once both have their
snapshot, a worker (another child process, as an RQ work-horse is) drives a ``JobReporter`` through ``--events``
updates, one every ``--interval`` seconds. The reporter's clock is a fake one that moves a second per call, so
every update is due: each one writes the row and pushes to both groups through Redis, exactly as a due update does
in a job. The worker notes ``time.time()`` just before each ``update`` call, the clients just after a message
arrives (one machine, one clock); the latency of an event is the difference. The default pace (20 events a
second) is five times what the reporter ever pushes for one job, so the figures err on the slow side. The worker
also reports how long ``update`` itself took and the part of it spent pushing (``job_push``: two ``group_send``
calls).

*Writes*: the progress calls of an analyze job over N files (``--files``) at a given pace, on a fake clock (so it
runs in moments; the writes and pushes are real), as ``catalog_analyze`` makes them: the scan phase (an update
every 1,000 listed files, listing at 20,000 files a second), the analyze phase (an update and a cancel check per
file, at ``--rates`` files a second), the duplicates phase's five calls (``catalog_find_duplicates``, a moment)
and the final ``done`` update. It counts the reporter's writes, the ``UPDATE`` statements on the job table
(``connection.execute_wrapper``) and the cancel checks' reads, per 1,000 files; and, apart, the writes of the
analyze phase alone (the per-file part, without the job's few fixed writes). 60 files a second is the analyze
engine's pace, 2,000 a fast pass (files whose content is known); the slower rates show files that take longer
(RAW, video, a slow disk).

*Fan-out writes*: the same per-file calls for a 20,000-file job split into 1,000-file batches (``jobs.fanout``)
shared by ``--fanout-workers`` workers that each go at 60 or 2,000 files a second, each with its own
``BatchReporter`` and fake clock; every statement writing to the job or batch tables counts.

Targets (from the issue): p95 latency on the job's socket under 0.5 s with no event lost, and at most 20 writes
per 1,000 files at 60 and 2,000 files a second (at every ``--files``). A missed target is reported, not an error.
The last lines of the output are ``key=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from bench.database import bench_database_url, ensure_database

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
DATABASE_SUFFIX = "_bench_progress"
BENCH_PHASE = "bench"
LIST_RATE = 20_000  # files listed per second in the scan phase of the writes simulation
FANOUT_FILES = 20_000  # files of the fanned-out job: 20 batches
LIST_EVERY = 1_000  # catalog_analyze reports the scan phase every this many files
DUPLICATES_STEP_S = 0.01  # between the duplicates phase's calls in the writes simulation
TARGET_P95_S = 0.5
TARGET_WRITES = 20
TARGET_RATES = (60, 2000)
SERVER_START_S = 30.0
SNAPSHOT_S = 10.0
STRAGGLERS_S = 5.0  # how long the clients wait for events still on their way once the worker is done


# --------------------------------------------------------------------------------------------------------------
# Environment


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vamsite.settings")
    import django

    django.setup()


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --------------------------------------------------------------------------------------------------------------
# The worker (a child process)


class FakeClock:
    """A clock that moves only when set (``now``) or, with ``step``, by ``step`` at every reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1_000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def run_worker(job_id: str, events: int, interval: float) -> dict:
    """Drive a JobReporter through ``events`` due updates, one every ``interval`` seconds; return the timings."""
    django_setup()
    from jobs import reporter as reporting
    from jobs.models import Job

    push_s: list[float] = []
    job_push = reporting.job_push

    def timed_push(job) -> None:
        began = time.perf_counter()
        job_push(job)
        push_s.append(time.perf_counter() - began)

    reporting.job_push = timed_push  # the reporter looks it up at every call
    job = Job.objects.get(pk=job_id)
    reporter = reporting.JobReporter(job, clock=FakeClock(step=reporting.WRITE_SECONDS))
    # Warm up as a real job is warm (run_job has read the row and pushed its start): connections, imports.
    reporter.update(phase="warmup", current=0, total=events)
    push_s.clear()
    sent: dict[int, float] = {}
    update_s: list[float] = []
    start = time.monotonic() + interval
    for current in range(1, events + 1):
        delay = start + (current - 1) * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent[current] = time.time()
        began = time.perf_counter()
        reporter.update(phase=BENCH_PHASE, current=current, total=events, message=f"event {current}")
        update_s.append(time.perf_counter() - began)
    return {"sent": sent, "update_s": update_s, "push_s": push_s}


# --------------------------------------------------------------------------------------------------------------
# Latency: daphne, the websocket clients (a child process), the worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(port: int, log) -> subprocess.Popen:
    """daphne on ``port``, started and listening (or SystemExit with its log)."""
    command = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "-v", "0", "vamsite.asgi:application"]
    server = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"daphne exited with {server.returncode}:\n{read_log(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise SystemExit(f"daphne did not listen on {HOST}:{port} within {SERVER_START_S:.0f} s:\n{read_log(log)}")


def read_log(log) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-4000:]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Socket:
    """One websocket client: when each bench event (by its ``current``) arrived."""

    path: str
    job_id: str
    opened: asyncio.Future  # the snapshot arrived
    closed: asyncio.Future
    received: dict[int, float] = field(default_factory=dict)
    protocol: Any = None


async def open_socket(port: int, path: str, job_id: str, cookie: str) -> Socket:
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    loop = asyncio.get_running_loop()
    state = Socket(path, job_id, opened=loop.create_future(), closed=loop.create_future())

    class Client(WebSocketClientProtocol):
        def onMessage(self, payload: bytes, isBinary: bool) -> None:  # autobahn calls these
            arrived = time.time()
            message = json.loads(payload)
            if message["type"].endswith("snapshot"):
                if not state.opened.done():
                    state.opened.set_result(None)
                return
            job = message.get("job") or {}
            if job.get("job_id") == state.job_id and job.get("phase") == BENCH_PHASE:
                state.received.setdefault(job["current"], arrived)

        def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
            if not state.opened.done():
                state.opened.set_exception(RuntimeError(f"websocket {path} refused or closed: {code} {reason}"))
            if not state.closed.done():
                state.closed.set_result(code)

    factory = WebSocketClientFactory(
        f"ws://{HOST}:{port}{path}", origin=f"http://{HOST}:{port}", headers={"Cookie": cookie}
    )
    factory.protocol = Client
    _transport, state.protocol = await loop.create_connection(factory, HOST, port)
    return state


async def listen(port: int, job_id: str, events: int, cookie: str) -> dict:
    """The clients: say ``ready`` once both sockets have their snapshot, then collect the events until all came
    or, once the parent closes our stdin (the worker is done), ``STRAGGLERS_S`` more seconds passed."""
    loop = asyncio.get_running_loop()
    sockets = [
        await open_socket(port, f"/ws/jobs/{job_id}/", job_id, cookie),
        await open_socket(port, "/ws/jobs/", job_id, cookie),
    ]
    try:
        for state in sockets:
            await asyncio.wait_for(state.opened, SNAPSHOT_S)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        worker_done = loop.run_in_executor(None, sys.stdin.read)
        deadline = math.inf
        while any(len(state.received) < events for state in sockets):
            if worker_done.done() and deadline == math.inf:
                deadline = time.monotonic() + STRAGGLERS_S
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        for state in sockets:
            if not state.closed.done():
                state.protocol.sendClose(1000)
        for state in sockets:
            try:
                await asyncio.wait_for(asyncio.shield(state.closed), 2)
            except TimeoutError:
                pass
    return {state.path: state.received for state in sockets}


def run_client(port: int, job_id: str, events: int) -> dict:
    """The websocket clients' process (no Django here: its daphne app pins autobahn to Twisted)."""
    return asyncio.run(listen(port, job_id, events, os.environ.pop("BENCH_PROGRESS_COOKIE")))


def wait_ready(client: subprocess.Popen, seconds: float) -> None:
    """Wait for the client's ``ready`` line (or SystemExit with its error output)."""
    ready, _, _ = select.select([client.stdout], [], [], seconds)
    line = client.stdout.readline() if ready else ""
    if line.strip() != "ready":
        stop(client)
        raise SystemExit(f"the websocket clients did not connect:\n{line}{client.stderr.read()[-4000:]}")


@dataclass
class Latency:
    path: str
    events: int
    received: int
    seconds: list[float]

    def stat(self, name: str) -> float:
        if not self.seconds:
            return math.nan
        if name == "median":
            return statistics.median(self.seconds)
        return max(self.seconds) if name == "max" else nearest_rank(self.seconds, 0.95)


def measure_latency(job_id: str, cookie: str, events: int, interval: float) -> tuple[list[Latency], dict]:
    """daphne, then the clients, then the worker; the latency per socket and the worker's report."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_server(port, log)
        try:
            command = [sys.executable, "-m", "bench.progress", "_client", str(port), job_id, str(events)]
            client = subprocess.Popen(
                command,
                cwd=REPO,
                env=os.environ | {"BENCH_PROGRESS_COOKIE": cookie},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                wait_ready(client, SERVER_START_S)
                command = [sys.executable, "-m", "bench.progress", "_worker", job_id, str(events), str(interval)]
                worker = subprocess.run(
                    command, cwd=REPO, capture_output=True, text=True, timeout=events * interval + 120
                )
                if worker.returncode:
                    raise SystemExit(f"the worker failed ({worker.returncode}):\n{worker.stderr[-4000:]}")
                report = json.loads(worker.stdout.strip().splitlines()[-1])
                out, err = client.communicate("", timeout=STRAGGLERS_S + 30)
                if client.returncode:
                    raise SystemExit(f"the websocket clients failed ({client.returncode}):\n{err[-4000:]}")
                arrivals = json.loads(out.strip().splitlines()[-1])
            finally:
                stop(client)
        finally:
            stop(server)
    sent = {int(current): at for current, at in report["sent"].items()}
    latencies = []
    for path, seen in arrivals.items():
        received = {int(current): at for current, at in seen.items()}
        seconds = [received[current] - at for current, at in sent.items() if current in received]
        latencies.append(Latency(path, len(sent), len(seconds), seconds))
    return latencies, report


# --------------------------------------------------------------------------------------------------------------
# Writes per 1,000 files


@dataclass
class Writes:
    rate: float
    files: int
    writes: int  # JobReporter.writes
    analyze_writes: int  # of which in the analyze phase (its start and end included)
    updates: int  # UPDATE statements on the job table
    reads: int  # other statements on the job table (the cancel checks)

    def per_1000(self, count: int) -> float:
        return 1000 * count / self.files


def measure_writes(user, files: int, rate: float) -> Writes:
    """The progress calls of an analyze job over ``files`` files at ``rate`` files a second (on a fake clock).

    Each phase starts on a whole second and every call's time is computed from the phase's start (never summed
    step by step), so a write due after exactly a second is not missed by a rounding error.
    """
    from django.db import connection

    from jobs.models import Job, JobKind, JobStatus
    from jobs.reporter import JobReporter

    table = f'"{Job._meta.db_table}"'
    counts = {"updates": 0, "reads": 0}

    def count(execute, sql, params, many, context):
        if table in sql:
            counts["updates" if sql.lstrip().upper().startswith("UPDATE") else "reads"] += 1
        return execute(sql, params, many, context)

    job = Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, created_by=user, params={"bench": "progress"}
    )
    clock = FakeClock()
    reporter = JobReporter(job, clock=clock)
    with connection.execute_wrapper(count):
        # catalog_analyze: listing, an update every LIST_EVERY files.
        reporter.update(phase="scan", current=0, total=None, message="listing files")
        origin = clock.now
        for listed in range(LIST_EVERY, files + 1, LIST_EVERY):
            clock.now = origin + listed / LIST_RATE
            reporter.update(phase="scan", current=listed, total=None, message="listing files")
        # Analyzing: an update and a cancel check per file.
        clock.now = origin = math.ceil(clock.now) + 1.0
        before = reporter.writes
        reporter.update(phase="analyze", current=0, total=files, message="")
        for done in range(1, files + 1):
            clock.now = origin + done / rate
            reporter.update(phase="analyze", current=done, total=files, message=f"IMG_{done:06d}.jpg")
            reporter.is_cancelled()
        analyze_writes = reporter.writes - before
        # catalog_find_duplicates: five calls in a moment (groups found for 5 % of the files), then done.
        origin = math.ceil(clock.now) + 1.0
        groups = max(1, files // 20)
        calls = [(0, None, "loading hashes"), (0, None, "comparing"), (0, None, "grouping")]
        calls += [(0, groups, "saving groups"), (groups, groups, "done")]
        for step, (current, total, message) in enumerate(calls):
            clock.now = origin + step * DUPLICATES_STEP_S
            reporter.update(phase="duplicates", current=current, total=total, message=message)
        clock.now = math.ceil(clock.now) + 1.0
        reporter.update(phase="done", current=files, total=files)
    return Writes(rate, files, reporter.writes, analyze_writes, counts["updates"], counts["reads"])


def measure_fanout_writes(user, files: int, rate: float, workers: int, batch_files: int = 1000) -> Writes:
    """The writes of the analyze phase of a job fanned out over ``workers`` workers (``jobs.fanout``), each doing
    ``rate`` files a second: each worker claims a batch, drives a ``BatchReporter`` through an update and a
    cancel check per file on its own fake clock, and records the batch done. Every statement that writes to the
    job or batch tables counts (making the batch rows, the claims, the progress writes, the ends); reads do not.
    """
    from django.db import connection

    from catalog.services.analyze import AnalyzeSummary
    from jobs.fanout import BatchReporter, batch_claim, batch_finish
    from jobs.models import Job, JobBatch, JobKind, JobStatus

    tables = (f'"{Job._meta.db_table}"', f'"{JobBatch._meta.db_table}"', Job._meta.db_table)
    counts = {"writes": 0}

    def count(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH")) and any(table in sql for table in tables):
            counts["writes"] += 1
        return execute(sql, params, many, context)

    job = Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, created_by=user, params={"bench": "progress"}, total=files
    )
    clocks = [FakeClock() for _ in range(workers)]
    with connection.execute_wrapper(count):
        sizes = [min(batch_files, files - start) for start in range(0, files, batch_files)]
        waiting = list(
            zip(
                JobBatch.objects.bulk_create(
                    [JobBatch(job=job, index=index, entries=[], known={}) for index in range(len(sizes))],
                    batch_size=100,
                ),
                sizes,
                strict=True,
            )
        )

        def take(clock: FakeClock) -> dict | None:
            if not waiting:
                return None
            batch, size = waiting.pop(0)
            claimed = batch_claim(batch.pk)
            assert claimed is not None
            return {"batch": claimed, "size": size, "done": 0, "origin": clock.now, "clock": clock,
                    "reporter": BatchReporter(claimed, clock=clock)}  # fmt: skip

        # The workers run side by side: each in turn does its next file, at its share of the pace.
        running = [work for work in (take(clock) for clock in clocks) if work]
        while running:
            for work in list(running):
                work["done"] += 1
                work["clock"].now = work["origin"] + work["done"] / rate
                work["reporter"].update(phase="analyze", current=work["done"], total=work["size"], message="IMG.jpg")
                work["reporter"].is_cancelled()
                if work["done"] == work["size"]:
                    work["reporter"].flush()
                    batch_finish(work["batch"], work["reporter"], AnalyzeSummary(analyzed=work["size"]))
                    running.remove(work)
                    following = take(work["clock"])
                    if following:
                        running.append(following)
    current = Job.objects.get(pk=job.pk).current
    assert current == files, f"the batches counted {current} files of {files}"
    return Writes(rate, files, counts["writes"], counts["writes"], counts["writes"], 0)


# --------------------------------------------------------------------------------------------------------------


def fmt_rate(rate: float) -> str:
    return f"{rate:g}"


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit(
            "bench.progress needs DATABASE_URL (Postgres) and REDIS_URL (the channels-redis layer that carries "
            "events between processes), e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/vam "
            "REDIS_URL=redis://127.0.0.1:6379/0"
        )
    url = bench_database_url(os.environ["DATABASE_URL"], DATABASE_SUFFIX, "bench.progress")
    ensure_database(url)
    # The children (daphne, the worker) inherit these.
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ["VAM_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["DJANGO_SETTINGS_MODULE"] = "vamsite.settings"
    django_setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.test import Client

    from jobs.models import Job, JobKind, JobStatus

    call_command("migrate", verbosity=0)
    name = f"bench-progress-{secrets.token_hex(4)}"
    user = get_user_model().objects.create_user(name, password=None)  # not staff: the list socket checks rights
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    try:
        job = Job.objects.create(
            kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, created_by=user, params={"bench": "progress"}
        )
        latencies, report = measure_latency(str(job.pk), cookie, args.events, args.interval)
        writes = [measure_writes(user, files, rate) for rate in args.rates for files in args.files]
        fanned = [
            (workers, measure_fanout_writes(user, FANOUT_FILES, rate, workers))
            for workers in args.fanout_workers
            for rate in TARGET_RATES
        ]
    finally:
        Job.objects.filter(created_by=user).delete()
        Session.objects.filter(session_key=session_key).delete()
        user.delete()

    print(
        f"latency: {args.events} progress events, one every {args.interval:g} s, from JobReporter.update in a worker "
        f"process through Redis and daphne to websocket clients (database {settings.DATABASES['default']['NAME']})"
    )
    print(f"  {'socket':<16}{'received':>10}{'median s':>11}{'p95 s':>9}{'max s':>9}")
    for latency in latencies:
        print(
            f"  {latency.path if latency.path == '/ws/jobs/' else '/ws/jobs/<id>/':<16}"
            f"{latency.received:>6}/{latency.events:<3}{latency.stat('median'):>11.4f}"
            f"{latency.stat('p95'):>9.4f}{latency.stat('max'):>9.4f}"
        )
    update_s, push_s = report["update_s"], report["push_s"]
    print(
        f"  worker: update() median {statistics.median(update_s):.4f} s, p95 {nearest_rank(update_s, 0.95):.4f} s, "
        f"max {max(update_s):.4f} s; of which job_push (2 group_send) median {statistics.median(push_s):.4f} s, "
        f"p95 {nearest_rank(push_s, 0.95):.4f} s"
    )
    print(
        "database writes per 1,000 files: an analyze job's progress calls on a fake clock (scan; analyze: an update "
        "and a cancel check per file; duplicates; done); 'analyze' is the analyze phase alone, start and end "
        "included; reads are the cancel checks"
    )
    print(
        f"  {'files/s':>8}{'files':>8}{'writes':>8}{'UPDATEs':>9}{'per 1,000':>11}{'analyze':>9}{'per 1,000':>11}"
        f"{'reads/1,000':>13}"
    )
    for w in writes:
        print(
            f"  {fmt_rate(w.rate):>8}{w.files:>8}{w.writes:>8}{w.updates:>9}{w.per_1000(w.writes):>11.1f}"
            f"{w.analyze_writes:>9}{w.per_1000(w.analyze_writes):>11.1f}{w.per_1000(w.reads):>13.1f}"
        )
    mismatched = [w for w in writes if w.updates != w.writes]
    if mismatched:
        print(f"  note: UPDATE statements differ from the reporter's writes in {len(mismatched)} runs")

    print(
        "fan-out: writes per 1,000 files of the analyze phase of a job split into 1,000-file batches, each "
        "worker at the pace shown (batch rows, claims, progress, ends)"
    )
    print(f"  {'workers':>8}{'files/s':>8}{'files':>8}{'writes':>8}{'per 1,000':>11}")
    for workers, w in fanned:
        print(f"  {workers:>8}{fmt_rate(w.rate):>8}{w.files:>8}{w.writes:>8}{w.per_1000(w.writes):>11.1f}")

    job_latency = latencies[0]
    lost = job_latency.events - job_latency.received
    latency_ok = lost == 0 and job_latency.stat("p95") < TARGET_P95_S
    judged = [w for w in writes if w.rate in TARGET_RATES]
    over = [w for w in judged if w.per_1000(w.writes) > TARGET_WRITES]
    writes_ok = bool(judged) and not over
    print(
        f"targets: p95 < {TARGET_P95_S:g} s with no event lost: {'pass' if latency_ok else 'FAIL'}; "
        f"<= {TARGET_WRITES} writes per 1,000 files at {' and '.join(map(str, TARGET_RATES))} files/s: "
        f"{('pass' if writes_ok else 'FAIL') if judged else 'n/a (no such --rates)'}"
        + "".join(f"; {w.per_1000(w.writes):.1f} at {fmt_rate(w.rate)} files/s over {w.files} files" for w in over)
    )

    figures = [
        ("events", str(job_latency.events)),
        ("events_received", str(job_latency.received)),
        ("latency_median_s", f"{job_latency.stat('median'):.4f}"),
        ("latency_p95_s", f"{job_latency.stat('p95'):.4f}"),
        ("latency_max_s", f"{job_latency.stat('max'):.4f}"),
    ]
    all_jobs = latencies[1]
    figures += [
        ("list_events_received", str(all_jobs.received)),
        ("list_latency_median_s", f"{all_jobs.stat('median'):.4f}"),
        ("list_latency_p95_s", f"{all_jobs.stat('p95'):.4f}"),
        ("list_latency_max_s", f"{all_jobs.stat('max'):.4f}"),
        ("worker_update_median_s", f"{statistics.median(update_s):.4f}"),
        ("worker_push_median_s", f"{statistics.median(push_s):.4f}"),
    ]
    smallest = min(args.files)
    for w in writes:
        key = f"writes_per_1000_files_{fmt_rate(w.rate)}fps"
        if w.files == smallest:  # the worst case: a job's fixed writes weigh most on the fewest files
            figures.append((key, f"{w.per_1000(w.writes):.1f}"))
        figures.append((f"{key}_{w.files}", f"{w.per_1000(w.writes):.1f}"))
    for workers, w in fanned:
        key = f"fanout_{workers}w_writes_per_1000_files_{fmt_rate(w.rate)}fps"
        figures.append((key, f"{w.per_1000(w.writes):.1f}"))
    figures += [
        ("target_latency", "pass" if latency_ok else "fail"),
        ("target_writes", ("pass" if writes_ok else "fail") if judged else "n/a"),
    ]
    return figures


def csv_numbers(text: str, kind=int) -> list:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers: {text!r}")
    return values


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_client"]:  # the websocket clients of the latency run (print "ready", then one JSON line)
        port, job_id, events = argv[1:4]
        sys.stdout.write(json.dumps(run_client(int(port), job_id, int(events))) + "\n")
        return
    if argv[:1] == ["_worker"]:  # the worker process of the latency run (prints one JSON line)
        job_id, events, interval = argv[1:4]
        sys.stdout.write(json.dumps(run_worker(job_id, int(events), float(interval))) + "\n")
        return
    parser = argparse.ArgumentParser(prog="python -m bench.progress", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400, help="progress events to time (default 400)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between events (default 0.05)")
    parser.add_argument(
        "--files", type=csv_numbers, default=[1000, 10000], help="files per simulated job (default 1000,10000)"
    )
    parser.add_argument(
        "--rates",
        type=lambda text: csv_numbers(text, float),
        default=[10.0, 30.0, 60.0, 200.0, 2000.0],
        help="files per second of the simulated jobs (default 10,30,60,200,2000)",
    )
    parser.add_argument(
        "--fanout-workers",
        type=csv_numbers,
        default=[2, 4],
        help="workers sharing a fanned-out job in the fan-out writes figures (default 2,4)",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.interval < 0:
        parser.error("--events must be at least 1 and --interval not negative")
    figures = run(args)
    print()
    for key, value in figures:
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
