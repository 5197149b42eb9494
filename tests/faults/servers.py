"""Private PostgreSQL, Redis and RabbitMQ servers for the faults group, so that it can really stop, flush and restart
them without touching the shared servers other engineers' runs use.

Each runs from a temporary directory on free ports: a PostgreSQL cluster (``initdb``/``pg_ctl``; as the
``postgres`` OS user when the tests run as root, since PostgreSQL refuses to run as root), a ``redis-server``
with no persistence, and a RabbitMQ node with its own node name, ports, data, logs, config and Erlang cookie (as
the ``rabbitmq`` OS user when run as root). Starting all three takes seconds.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import redis as redis_sync


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, *, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(socket.socket()) as sock:
            sock.settimeout(0.5)
            if (sock.connect_ex(("127.0.0.1", port)) == 0) == up:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not {'open' if up else 'closed'} within {timeout}s")


def _as_user(user: str | None, command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def _service_user(name: str) -> str | None:
    """Run as this OS user when we are root (the servers refuse root, or should not run as it)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise RuntimeError(
            f"running as root and there is no {name!r} user to run the private server as"
        ) from exc
    return name


def _chown(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            for name in [
                root,
                *(os.path.join(root, d) for d in dirs),
                *(os.path.join(root, f) for f in files),
            ]:
                os.chown(name, entry.pw_uid, entry.pw_gid)


class PrivatePostgres:
    def __init__(self, base: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found and shutil.which("pg_ctl") is None:
            raise RuntimeError("pg_ctl not found (/usr/lib/postgresql/*/bin or PATH)")
        self.bin = Path(found[-1]).parent if found else Path(shutil.which("pg_ctl") or "").parent
        self.user = _service_user("postgres")
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.dir.mkdir()
        _chown(self.dir, self.user)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not self.data.exists():
            _as_user(
                self.user,
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
            )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _as_user(
            self.user,
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.dir / "log"),
                "-w",
                "start",
            ],
        )

    def stop(self, mode: str = "fast") -> None:
        _as_user(self.user, [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql(self, sql: str, database: str = "postgres") -> str:
        url = self.admin_url.rsplit("/", 1)[0] + f"/{database}"
        return _as_user(None, ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]).stdout.strip()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")


class PrivateRedis:
    def __init__(self, base: Path) -> None:
        self.dir = base / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, 10)

    def flush_and_restart(self) -> None:
        """FLUSHALL (this private server only), then a real restart: the live state is gone and must be rebuilt."""
        client = redis_sync.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        _wait_port(self.port, 10, up=False)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class PrivateRabbit:
    """A RabbitMQ node of its own: ``faults-<id>@localhost`` on free AMQP and distribution ports."""

    def __init__(self, base: Path) -> None:
        self.user = _service_user("rabbitmq")
        self.dir = base / "rabbitmq"
        self.node = f"faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        home = self.dir / "home"
        home.mkdir(parents=True)
        (self.dir / "mnesia").mkdir()
        (self.dir / "log").mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\n")
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        _chown(self.dir, self.user)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.sbin = Path("/usr/lib/rabbitmq/bin")
        if not (self.sbin / "rabbitmq-server").exists():
            self.sbin = Path(shutil.which("rabbitmq-server") or "rabbitmq-server").parent

    def url(self, vhost: str = "%2F") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def _run(self, script: str, *args: str, timeout: float = 90) -> str:
        command = ["env", *(f"{k}={v}" for k, v in self.env.items()), str(self.sbin / script), *args]
        return _as_user(self.user, command, timeout=timeout, cwd=self.dir).stdout

    def ctl(self, *args: str, timeout: float = 90) -> str:
        return self._run("rabbitmqctl", "-n", self.node, *args, timeout=timeout)

    def start(self) -> None:
        self._run("rabbitmq-server", "-detached")
        try:
            _wait_port(self.port, 60)  # the AMQP listener opens last in the boot
        except RuntimeError as exc:
            logs = "".join(p.read_text(errors="replace")[-2000:] for p in (self.dir / "log").glob("*.log"))
            raise RuntimeError(f"private RabbitMQ node {self.node} did not start: {logs}") from exc
        self.ctl("await_startup", "--timeout", "60")

    def stop(self) -> None:
        """Stop the whole node (the Erlang VM too), as an operator's restart does."""
        self.ctl("stop")
        _wait_port(self.port, 30, up=False)
        short = self.node.split("@", 1)[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the VM is gone once epmd forgets the name (it may be reused)
            names = subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout
            if f"name {short} " not in names:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.node} still registered with epmd 30 s after stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ctl("stop", timeout=30)


class PrivateServers:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hub-faults-"))
        self.base.chmod(0o755)
        self.postgres = PrivatePostgres(self.base)
        self.redis = PrivateRedis(self.base)
        self.rabbit = PrivateRabbit(self.base)

    def start(self) -> None:
        self.postgres.start()
        self.redis.start()
        self.rabbit.start()

    def close(self) -> None:
        self.rabbit.close()
        self.redis.close()
        self.postgres.close()
        shutil.rmtree(self.base, ignore_errors=True)
