"""Shared test set-up: one torch thread per process (tests run two processes on two cores), and
nothing left behind in the system's temporary folder."""

import os
import shutil
import tempfile

# Folders libraries make in the system's temporary folder, pointed at folders of our own that
# the session removes at its end (set before the libraries are imported; xdist workers inherit them):
# - SB3_LOGDIR: every stable-baselines3 `learn` calls `configure_logger`, which with no
#   `tensorboard_log` calls `logger.configure(folder=None)`; that folder is $SB3_LOGDIR or else a
#   new <tempdir>/SB3-<date-time>, made with `os.makedirs` even when the logger only prints (or, at
#   verbose=0, writes nothing): one empty folder per `learn`.
# - TORCHINDUCTOR_CACHE_DIR: importing torchrl, or the first torch optimizer, makes
#   <tempdir>/torchinductor_<user>.
# - RAY_TMPDIR: every local Ray (the harness's --ray test) writes a session folder under <tempdir>/ray.
# tmp_path folders: pytest removes its own after a green run (tmp_path_retention_policy = "failed").
OWN_FOLDERS = []
for name, prefix in (
    ("SB3_LOGDIR", "token-gym-tests-sb3-"),
    ("TORCHINDUCTOR_CACHE_DIR", "token-gym-tests-inductor-"),
    ("RAY_TMPDIR", "tg-ray-"),  # short: Ray's socket paths must stay under ~107 characters
):
    if name not in os.environ:
        os.environ[name] = tempfile.mkdtemp(prefix=prefix)
        OWN_FOLDERS.append(os.environ[name])

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch
except ImportError:  # token_gym alone needs no torch
    torch = None

if torch is not None:
    torch.set_num_threads(1)


def pytest_unconfigure(config):
    for folder in OWN_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)
