"""What ``/proc`` says about the processes of a benchmark run: CPU seconds, resident memory,
PostgreSQL's CPU and the whole machine's busy time (Linux only; a process that is gone counts 0).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3, the state, first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def read_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (nginx's worker under its master)."""
    out = []
    for child in _pids():
        fields = _stat(child)
        if fields is not None and int(fields[1]) == pid:
            out.append(child)
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children."""
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@dataclass(frozen=True)
class PostgresCpu:
    """CPU seconds so far of the PostgreSQL server on this machine.

    ``server``: every ``postgres`` process (the postmaster's own time, the time of its children
    that have exited — its ``cutime``/``cstime`` — and every live backend and helper), so it is
    monotonic and counts backends that came and went; it includes other work on the same server.
    ``ours``: the live backends serving the named databases (their process title names the
    database), which is this run's share as long as its connections stay open (pools do)."""

    server: float
    ours: float
    found: bool  # False: no PostgreSQL process visible here (another host or namespace)


def postgres_cpu(databases: Iterable[str] = ()) -> PostgresCpu:
    names = [d for d in databases if d]
    server = ours = 0.0
    found = False
    for pid in _pids():
        if _comm(pid) != "postgres":
            continue
        fields = _stat(pid)
        if fields is None:
            continue
        found = True
        own = (int(fields[11]) + int(fields[12])) / TICK
        server += own
        if _comm(int(fields[1])) != "postgres":  # the postmaster: add its reaped children
            server += (int(fields[13]) + int(fields[14])) / TICK
        elif names:
            title = _cmdline(pid).split()
            if any(name in title for name in names):
                ours += own
    return PostgresCpu(round(server, 3), round(ours, 3), found)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core; ``/proc/stat`` minus idle and
    iowait)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def database_name(url: str) -> str:
    """The database a SQLAlchemy URL names (PostgreSQL's backends carry it in their title)."""
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def server_and_machine_cpu(databases: Iterable[str]) -> dict[str, float]:
    """CPU seconds so far beside a run's own processes: PostgreSQL's backends of
    ``databases`` (``postgres``) and the whole server (``postgres_server``) when PostgreSQL
    runs on this machine, and every core of the machine (``machine``)."""
    out: dict[str, float] = {}
    pg = postgres_cpu(databases)
    if pg.found:
        out["postgres"], out["postgres_server"] = pg.ours, pg.server
    out["machine"] = machine_busy_seconds()
    return out


class RssSampler:
    """Samples the RSS of some processes in a thread; ``peak`` per name in bytes."""

    def __init__(self, pids: dict[str, int], every: float = 0.2) -> None:
        self.pids, self.every = pids, every
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], read_rss(pid)[0])
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for name, pid in self.pids.items():  # the kernel's own peak covers what 0.2 s missed
            self.peak[name] = max(self.peak[name], read_rss(pid)[1])
