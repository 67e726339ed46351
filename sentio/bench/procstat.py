"""CPU time and peak memory of another process, read from Linux's /proc."""

from __future__ import annotations

import os
from pathlib import Path

from sentio.errors import SentioError

TICKS = os.sysconf("SC_CLK_TCK")
UTIME, STIME = 11, 12  # indexes in /proc/PID/stat after the command name (the state is 0)


class ProcError(SentioError):
    """Raise when a process's statistics cannot be read."""


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds ``pid`` has used so far (its threads included)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError as exc:
        raise ProcError(f"cannot read CPU time of process {pid}: {exc}") from exc
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[UTIME]), int(fields[STIME])
    return (utime + stime) / TICKS


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size of ``pid`` (VmHWM) in MiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        raise ProcError(f"cannot read memory of process {pid}: {exc}") from exc
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ProcError(f"process {pid} reports no VmHWM")
