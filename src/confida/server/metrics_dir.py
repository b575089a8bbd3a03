"""The directory where the worker processes of one server share their metrics.

prometheus-client's multiprocess mode has each process write its samples to memory-mapped
files in ``PROMETHEUS_MULTIPROC_DIR``; a scrape sums every file in it. ``run_workers`` makes
the directory, ``<data dir>/run/metrics-<server pid>`` (mode 0700, empty at start, removed
when the server stops; one a killed server left behind is removed at the next start), and each
worker sets the variable first thing, before anything imports prometheus-client (which reads
it once, at import). The parent does not take part: it serves no request, and the operations
of the background jobs it runs (retention) are not counted. The files hold metric names, label
values (route templates, action names, outcomes) and numbers.

Stdlib only: importing it must not import prometheus-client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path

from confida.config import Config

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "metrics-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare(config: Config) -> Path:
    """A fresh private directory for the metrics of this server's workers."""
    run = config.data_dir / "run"
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in run.glob(PREFIX + "*"):
        pid = old.name.removeprefix(PREFIX)
        if old.is_dir() and not old.is_symlink() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)  # left by a server that was killed
    path = run / f"{PREFIX}{os.getpid()}"
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)  # whatever the umask
    return path


def enter(path: Path) -> None:
    """In a worker, before anything imports prometheus-client: write metrics to ``path``."""
    if "prometheus_client" in sys.modules:  # too late: this worker's samples would be lost
        logging.getLogger("confida.server").warning(
            "metrics: prometheus-client was imported before the worker chose its mode; this "
            "worker's metrics are not shared")
    os.environ[ENV] = str(path)


def worker_ended(pid: int, path: Path) -> None:
    """Forget a dead worker's live gauges (its counters and histograms keep counting)."""
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, str(path))


def remove(path: Path) -> None:
    """Remove the directory when the server stops."""
    shutil.rmtree(path, ignore_errors=True)
