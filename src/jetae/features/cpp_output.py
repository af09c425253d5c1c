"""Redirect what C++ libraries (Pythia, FastJet) write to file descriptor 1.

Their banners and messages bypass Python's ``sys.stdout``; jetae keeps stdout for results.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Iterator

#: File-descriptor juggling is process-wide; threads (Dask thread workers) take turns.
_FD_LOCK = threading.RLock()


@contextlib.contextmanager
def capture_stdout() -> Iterator[list[str]]:
    """Capture what C++ code writes to file descriptor 1 (Pythia, FastJet banners).

    Yields a list that holds the captured lines after the block.
    """
    captured: list[str] = []
    with _FD_LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            captured.extend(sink.read().decode("utf-8", "replace").splitlines())


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send C++ writes to stdout (the FastJet banner) to stderr, keeping stdout for results."""
    with _FD_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
