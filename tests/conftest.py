"""Shared test set-up: one torch thread per process (tests run two processes on two cores)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch
except ImportError:  # token_gym alone needs no torch
    torch = None

if torch is not None:
    torch.set_num_threads(1)
