"""Which torch device the GPU path runs on (``VAM_DEVICE=auto|cpu|cuda``), without importing torch unless asked.

torch is an optional dependency (``requirements-gpu.txt``): the base install, the web server and the CPU workers
never import it. ``resolve`` is called only where the GPU path is about to run (the ``gpu`` worker, a duplicate
search that would use it), and answers ``None`` when torch is missing, so callers fall back to the CPU engine.
"""

from __future__ import annotations

import importlib.util
from functools import cache

CHOICES = ("auto", "cpu", "cuda")


class DeviceError(Exception):
    """``VAM_DEVICE`` asks for something this machine cannot give (an unknown name, cuda without a GPU)."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def check_choice(choice: str) -> str:
    choice = (choice or "auto").strip().lower()
    if choice not in CHOICES:
        raise DeviceError(f"VAM_DEVICE must be one of {', '.join(CHOICES)}, not {choice!r}")
    return choice


@cache
def resolve(choice: str = "auto") -> str | None:
    """The torch device name for ``choice``: "cuda" or "cpu", or None when torch is not installed.

    ``auto`` takes the GPU when torch sees one and torch's CPU otherwise; ``cuda`` without a usable GPU is an
    error (a GPU worker started on the wrong node must say so, not run slowly on its CPU).
    """
    choice = check_choice(choice)
    if not torch_installed():
        if choice == "cuda":
            raise DeviceError("VAM_DEVICE=cuda, but torch is not installed (pip install -r requirements-gpu.txt)")
        return None
    import torch

    has_cuda = torch.cuda.is_available()
    if choice == "cuda" and not has_cuda:
        raise DeviceError("VAM_DEVICE=cuda, but torch sees no CUDA device on this machine")
    if choice == "cpu":
        return "cpu"
    return "cuda" if has_cuda else "cpu"


def has_gpu(choice: str = "auto") -> bool:
    """Whether the GPU path would run on a GPU here (torch installed and a CUDA device visible)."""
    try:
        return resolve(choice) == "cuda"
    except DeviceError:
        return False


def require(choice: str = "auto") -> str:
    """``resolve``, for the GPU worker: the device, or ``DeviceError`` where the GPU path cannot run (torch is
    missing). torch and the GPU engine are loaded here, once, before the first batch."""
    device = resolve(choice)
    if device is None:
        raise DeviceError("torch is not installed here (pip install -r requirements-gpu.txt)")
    import catalog.media.gpu  # noqa: F401

    return device
