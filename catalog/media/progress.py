"""Progress reporting: the small interface services report through, and a terminal progress bar.

It lies in the Django-free core, below the services that report through it: the jobs system connects the same
interface to Job rows and websockets (``jobs.reporter``); management commands use the bar.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from catalog.media.words import counted


class ProgressReporter(Protocol):
    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None: ...

    def is_cancelled(self) -> bool: ...


class NullReporter:
    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None:
        pass

    def is_cancelled(self) -> bool:
        return False


class TerminalReporter:
    """A one-line bar on a terminal (redrawn at most 10 times a second); plain lines when not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interactive = self.stream.isatty()
        self._phase = ""
        self._phase_started = time.monotonic()
        self._last_draw = 0.0
        self._last_line = ""

    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None:
        now = time.monotonic()
        new_phase = phase != self._phase
        if new_phase:
            self._finish_line()
            self._phase, self._phase_started = phase, now
        done = total is not None and current >= total
        if not (new_phase or done) and now - self._last_draw < (0.1 if self.interactive else 5.0):
            return
        self._last_draw = now
        line = self._render(phase, current, total, message, now - self._phase_started)
        if self.interactive:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
        else:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()

    def _render(self, phase: str, current: int, total: int | None, message: str, elapsed: float) -> str:
        if phase == "done":
            return f"done: {counted(current, 'file')} {message}".rstrip()
        rate = current / elapsed if elapsed > 0 else 0.0
        if total:
            fraction = min(current / total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = (total - current) / rate if rate > 0 else None
            eta_text = f" ETA {_duration(eta)}" if eta is not None and current < total else ""
            line = f"{phase:<10} [{bar}] {current}/{total} {fraction:4.0%} {rate:6.1f}/s{eta_text}"
        elif current:
            line = f"{phase:<10} {current} {rate:6.1f}/s"
        else:
            line = f"{phase:<10}"
        return f"{line} {message}".rstrip()

    def _finish_line(self) -> None:
        if self.interactive and self._last_line:
            self.stream.write("\n")
            self.stream.flush()
        self._last_line = ""

    def close(self) -> None:
        self._finish_line()

    def is_cancelled(self) -> bool:
        return False


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"
