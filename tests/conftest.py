"""Shared test set-up: one torch thread for the whole session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: one intra-op thread avoids spin-wait contention
    (10-50x slower steps with 2 threads under load); restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
