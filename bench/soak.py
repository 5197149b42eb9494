"""Soak: 100,000 enquiries through hub.intake at a steady rate; the memory (RSS) of each hub process sampled.

    .venv/bin/python -m bench.soak                          # 100,000 at 400/s, writes docs/soak.md
    .venv/bin/python -m bench.soak --count 20000 --rate 300 # a shorter run

It makes a scratch PostgreSQL database (migrated by its owner; the hub connects as the application role), a
RabbitMQ vhost and a Redis prefix, loads deploy/examples, starts a ``hub worker`` and a ``hub serve`` process, publishes
with publisher confirms, waits until every enquiry is stored, and removes the scratch services at the end. Memory is
called flat when the RSS after warm-up (the first fifth of the run) grows by less than 10 % to the end.
Not part of ./scripts/test (it takes several minutes); run it by hand or in a nightly job.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pika
import pika.exceptions

from bench._services import Scratch, free_port, rss_kib, scratch_services

ROOT = Path(__file__).resolve().parent.parent
PARTNERS = ["chorley", "south-ribble", "lancashire"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=400.0, help="enquiries per second")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--http-rate", type=float, default=20.0, help="HTTP reads per second at hub serve")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "soak.md")
    parser.add_argument(
        "--logs", type=Path, default=ROOT / ".hub" / "soak", help="the processes' logs go here"
    )
    args = parser.parse_args()
    # Stopped early (SIGTERM, or SIGINT in the background), still remove the scratch database, vhost and keys.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)

    with scratch_services("soak") as scratch:
        soak(args, scratch)


def soak(args: argparse.Namespace, scratch: Scratch) -> None:
    run = uuid.uuid4().hex[:8]
    owner_url = scratch.database_url.replace("postgresql+asyncpg://", "postgresql://")
    amqp_url = scratch.amqp_url
    hub_bin = str(Path(sys.executable).parent / "hub")
    env = {**scratch.env(), "HUB_LOG_LEVEL": "INFO"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        subprocess.run([hub_bin, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [hub_bin, "tenants", "load", str(ROOT / "deploy" / "examples")],
            env=scratch.env(owner=True),
            check=True,
            capture_output=True,
        )
        args.logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        for name, command in (
            ("worker", [hub_bin, "worker"]),
            ("serve", [hub_bin, "serve", "--port", str(port)]),
        ):
            log_file = (args.logs / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        for _ in range(120):  # until the worker has declared its topology: the queue, not only the exchange
            if processes["worker"].poll() is not None:
                raise SystemExit("the worker exited; run `hub worker` with the same settings to see why")
            channel = connection.channel()
            try:
                channel.queue_declare("hub.intake", durable=True, passive=True)
                break
            except pika.exceptions.ChannelClosedByBroker:
                time.sleep(1)
        channel = connection.channel()
        # A partner reading hub.events (kept short: the soak measures the hub, not this queue).
        channel.queue_declare(
            "soak.events", durable=True, arguments={"x-max-length": 1000, "x-overflow": "drop-head"}
        )
        channel.queue_bind("soak.events", "hub.events", routing_key="#")
        channel.confirm_delivery()
        # The API process under a steady trickle of reads all along (probes, Prometheus, Open311, tracking),
        # so that its memory is measured at work, not idle.
        readers = HttpReaders(f"http://127.0.0.1:{port}", args.http_rate)
        readers.start()
        samples: list[tuple[float, dict[str, int]]] = []
        start = time.monotonic()
        next_sample = start
        for i in range(args.count):
            partner = PARTNERS[i % len(PARTNERS)]
            body = {
                "tenant": partner,
                "channel": "web",
                "received_at": datetime.now(UTC).isoformat(),
                "service_code": "general",
                "text": "soak",
                "customer": {"name": f"Resident {i}"},
            }
            channel.basic_publish(
                "hub.intake",
                f"{partner}.web",
                json.dumps(body).encode(),
                pika.BasicProperties(
                    message_id=f"soak-{run}-{i}",
                    content_type="application/json",
                    type="enquiry.v1",
                    delivery_mode=2,
                ),
                mandatory=True,  # an unroutable message is an error here, not a silent loss
            )
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - start, {n: rss_kib(p.pid) for n, p in processes.items()}))
                next_sample = now + args.sample_seconds
            delay = start + (i + 1) / args.rate - now
            if delay > 0:
                time.sleep(delay)
        published_seconds = time.monotonic() - start
        connection.close()
        readers.stop.set()
        readers.join(10)
        stored, rows = 0, 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            stored, rows = _count(owner_url, f"soak-{run}-")
            samples.append((time.monotonic() - start, {n: rss_kib(p.pid) for n, p in processes.items()}))
            if stored >= args.count:
                break
            time.sleep(args.sample_seconds)
        total_seconds = time.monotonic() - start
        stops = {name: _stop(process) for name, process in processes.items()}
        log_text = (args.logs / "worker.log").read_text(errors="replace")
        worker_log = {
            "connects": log_text.count('"amqp.connected"'),
            "errors": log_text.count('"level": "error"'),
        }
        http = {"requests": readers.requests, "failed": readers.failed}
        write_report(args, samples, (stored, rows), published_seconds, total_seconds, stops, worker_log, http)
    finally:
        for process in processes.values():
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _count(owner_url: str, id_prefix: str) -> tuple[int, int]:
    """(distinct message_ids of this run stored, enquiry rows): equal when nothing was doubled."""
    out = subprocess.run(
        [
            "psql",
            owner_url,
            "-AtqF,",
            "-c",
            f"SELECT count(DISTINCT message_id), count(*) FROM enquiries WHERE message_id LIKE '{id_prefix}%'",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    distinct, total = out.stdout.strip().split(",")
    return int(distinct), int(total)


class HttpReaders(threading.Thread):
    PATHS = (
        "/readyz",
        "/metrics",
        "/open311/v2/services.json?jurisdiction_id=chorley",
        "/open311/v2/requests.json?jurisdiction_id=south-ribble",
    )

    def __init__(self, base: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.base, self.rate = base, rate
        self.stop = threading.Event()
        self.requests = 0
        self.failed = 0

    def run(self) -> None:
        for _ in range(300):  # until the API listens
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        i = 0
        while not self.stop.wait(1 / self.rate):
            path = self.PATHS[i % len(self.PATHS)]
            i += 1
            self.requests += 1
            try:
                urllib.request.urlopen(self.base + path, timeout=10).read()
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    self.failed += 1
            except OSError:
                self.failed += 1


def _interrupted(signum: int, _frame: object) -> None:
    raise SystemExit(f"interrupted by signal {signum}")


def _stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, and how many seconds the process took to exit (it is killed after 30)."""
    began = time.monotonic()
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return time.monotonic() - began


def write_report(
    args: argparse.Namespace,
    samples: list[tuple[float, dict[str, int]]],
    counts: tuple[int, int],
    published_seconds: float,
    total_seconds: float,
    stops: dict[str, float],
    worker_log: dict[str, int],
    http: dict[str, int],
) -> None:
    stored, rows = counts
    warm = [s for s in samples if s[0] >= total_seconds / 5] or samples
    lines = [
        "# Soak",
        "",
        f"Written by `python -m bench.soak --count {args.count} --rate {args.rate:g}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC (2 shared cores; other engineers' runs on the same servers).",
        "",
        f"- published: {args.count:,} enquiries in {published_seconds:.0f} s "
        f"({args.count / published_seconds:.0f}/s); stored: {stored:,} distinct message_ids in {rows:,} "
        f"enquiries after {total_seconds:.0f} s",
        f"- worker: {worker_log['connects']} broker connection(s) made (1 = never reconnected), "
        f"{worker_log['errors']} error line(s) in its log",
        f"- API: {http['requests']:,} HTTP reads while publishing (`/readyz`, `/metrics`, Open311 services and "
        f"requests), {http['failed']} not answered 2xx/404",
        "- stopped with SIGTERM at the end: "
        + ", ".join(f"hub {name} exited after {seconds:.1f} s" for name, seconds in stops.items()),
        f"- RSS sampled every {args.sample_seconds:g} s; warm-up: the first fifth of the run",
        "",
        "| process | RSS after warm-up (MiB) | RSS at the end (MiB) | peak (MiB) | growth after warm-up | flat? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    flat_all = True
    for name in samples[0][1]:
        first = warm[0][1][name] / 1024
        last = warm[-1][1][name] / 1024
        peak = max(s[1][name] for s in samples) / 1024
        growth = (last - first) / first if first else 0.0
        flat = growth < 0.10
        flat_all &= flat
        lines.append(
            f"| hub {name} | {first:.1f} | {last:.1f} | {peak:.1f} | {growth * 100:+.1f} % | {'yes' if flat else 'NO'} |"
        )
    # The shape, not only the ends: RSS at each tenth of the run (a leak climbs steadily; a cache levels off).
    lines += [
        "",
        "RSS (MiB) through the run:",
        "",
        "| at | " + " | ".join(f"hub {n}" for n in samples[0][1]) + " |",
    ]
    lines.append("| --- |" + " --- |" * len(samples[0][1]))
    for tenth in range(1, 11):
        moment = total_seconds * tenth / 10
        sample = min(samples, key=lambda s: abs(s[0] - moment))
        lines.append(
            f"| {sample[0]:.0f} s | " + " | ".join(f"{v / 1024:.1f}" for v in sample[1].values()) + " |"
        )
    lines += [
        "",
        f"Every enquiry stored once: {'yes' if stored == rows == args.count else 'NO'}. Memory flat: "
        f"{'yes' if flat_all else 'NO'}.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
