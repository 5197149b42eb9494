"""Scratch PostgreSQL database, RabbitMQ vhost and Redis prefix for a benchmark run, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_ADMIN = os.environ.get("HUB_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUB_BENCH_REDIS", "redis://127.0.0.1:6379/0")


APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")


@dataclass(frozen=True)
class Scratch:
    database_url: str  # the owner's: migrations and loading partners
    amqp_url: str
    redis_url: str
    redis_prefix: str
    vhost: str

    @property
    def app_database_url(self) -> str:
        """As the application role, as in production: row-level security applies to what is measured."""
        scheme, rest = self.database_url.split("://", 1)
        return f"{scheme}://{APP_ROLE}@{rest.split('@', 1)[1]}"

    def env(self, *, owner: bool = False, **settings: str) -> dict[str, str]:
        """The environment of a hub process on these services; ``settings`` add HUB_<NAME> overrides."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_DATABASE_URL": self.database_url if owner else self.app_database_url,
            "HUB_MIGRATE_DATABASE_URL": self.database_url,
            "HUB_AMQP_URL": self.amqp_url,
            "HUB_REDIS_URL": self.redis_url,
            "HUB_REDIS_PREFIX": self.redis_prefix,
            "HUB_LOG_LEVEL": "WARNING",
            **{f"HUB_{name.upper()}": value for name, value in settings.items()},
        }

    def psql(self, sql: str) -> str:
        """Run SQL as the database owner (bench set-up and checks); returns what psql printed."""
        url = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        return subprocess.run(
            ["psql", url, "-tAc", sql], check=True, capture_output=True, text=True
        ).stdout.strip()

    def vacuum_if_no_autovacuum(self) -> bool:
        """Between runs, do what autovacuum would have done, where the server has it off (this machine's has).

        Without it every enquiry's updates leave dead rows and stale statistics behind, so each run is slower
        than the one before for reasons no production database (autovacuum on, the default) would have.
        """
        # Not before the first run: statistics taken of empty tables would plan the first run as if they stayed so.
        if self.psql("SHOW autovacuum") == "on" or self.psql("SELECT count(*) FROM enquiries") == "0":
            return False
        self.psql("VACUUM ANALYZE")
        return True

    def drop_live_state(self) -> None:
        """Delete this run's Redis keys: the next `hub worker` rebuilds the live state from PostgreSQL."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=5000))
        for i in range(0, len(keys), 5000):
            client.delete(*keys[i : i + 5000])

    def live_state_built(self) -> bool:
        import redis

        return bool(redis.Redis.from_url(self.redis_url).exists(f"{self.redis_prefix}built"))


@contextlib.contextmanager
def scratch_services(label: str) -> Iterator[Scratch]:
    run = f"hub_bench_{label}_{uuid.uuid4().hex[:6]}"
    subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {run}"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", run], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", run, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    base = PG_ADMIN.rsplit("/", 1)[0]
    scratch = Scratch(
        database_url=f"{base}/{run}".replace("postgresql://", "postgresql+asyncpg://"),
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{run}",
        redis_url=REDIS_URL,
        redis_prefix=f"{run}:",
        vhost=run,
    )
    try:
        yield scratch
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", run], capture_output=True)
        subprocess.run(
            ["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {run} WITH (FORCE)"], capture_output=True
        )
        scratch.drop_live_state()


def machine() -> str:
    """The machine and versions, for the docs next to each figure."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break

    def version(command: list[str], marker: str) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        lines = [
            ln.split(marker, 1)[1].strip() if marker else ln.strip()
            for ln in out.splitlines()
            if marker in ln
        ]
        return lines[0] if lines else "?"

    return (
        f"{os.cpu_count()} cores (`nproc`), {model}, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB, "
        f"Python {platform.python_version()}, PostgreSQL {version(['psql', '--version'], '(PostgreSQL)')}, "
        f"Redis {version(['redis-cli', 'info', 'server'], 'redis_version:')}, "
        f"RabbitMQ {version(['rabbitmqctl', 'version'], '')}"
    )


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def free_port() -> int:
    """A TCP port free on this machine now (for a `hub serve` the bench starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """Every process whose command name (``/proc/PID/comm``) is one of ``names``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def service_cpu(scratch: Scratch) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process of the services, by pid: all of PostgreSQL's processes (WAL writer,
    checkpointer, every database's backends: shared with whoever else uses the server), Redis and RabbitMQ (shared
    too). Two readings' difference is what a run cost them. This database's backends: ``BackendCpu``."""
    groups = {
        "postgres (all)": pids_named("postgres"),
        "redis": pids_named("redis-server"),
        "rabbitmq": pids_named("beam.smp"),
    }
    readings: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        readings[name] = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                readings[name][pid] = cpu_seconds(pid)
    return readings


class BackendCpu:
    """The CPU seconds of one database's PostgreSQL backends over a stretch of time, sampled twice a second from
    /proc (a backend's process title names its database), so a backend that exits meanwhile (a pool's overflow
    connection, closed at checkin) still counts up to its last sample; one that starts meanwhile counts from zero."""

    def __init__(self, database: str, every_seconds: float = 0.5) -> None:
        self.marker = f" {database} ".encode()
        self.every_seconds = every_seconds
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, *, starting: bool = False) -> None:
        for pid in pids_named("postgres"):
            try:
                if self.marker not in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                    continue
                used = cpu_seconds(pid)
            except OSError:
                continue
            self.first.setdefault(pid, used if starting else 0.0)
            self.last[pid] = used

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            self._sample()

    def start(self) -> None:
        self._sample(starting=True)
        self._thread.start()

    def stop(self) -> float:
        """Stop sampling; the CPU seconds used since ``start``."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(used - self.first[pid] for pid, used in self.last.items())


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings of a group (a process started since counts from zero; one that ended
    since is lost: its last reading is gone with it)."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())
