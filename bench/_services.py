"""Scratch PostgreSQL database, RabbitMQ vhost and Redis prefix for a benchmark run, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

PG_ADMIN = os.environ.get("HUB_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUB_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Scratch:
    database_url: str
    amqp_url: str
    redis_url: str
    redis_prefix: str
    vhost: str

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_DATABASE_URL": self.database_url,
            "HUB_AMQP_URL": self.amqp_url,
            "HUB_REDIS_URL": self.redis_url,
            "HUB_REDIS_PREFIX": self.redis_prefix,
            "HUB_LOG_LEVEL": "WARNING",
        }


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
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{run}:*", count=5000))
        for i in range(0, len(keys), 5000):
            client.delete(*keys[i : i + 5000])
