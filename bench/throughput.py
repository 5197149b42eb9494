"""End-to-end throughput: the hub against the bare broker ceiling, in the same run (issue 10).

    .venv/bin/python -m bench.throughput [--messages 20000] [--runs 3]

Bare ceiling: a separate publisher process sends N messages with pipelined publisher confirms into a quorum
queue read by a bare pika consumer that only parses JSON and acks. Hub: the same publisher sends N contract-v1
enquiries to ``hub.intake``; a `hub worker` process takes them in; the clock stops at the N-th
``enquiry.queued`` event (persisted in PostgreSQL and placed in the live queue). Prints medians and the ratio,
and checks that nothing was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pika

from bench._services import Scratch, cpu_seconds, machine, rss_mib, scratch_services

PARTNER = "benchshire"
PARTNER_YAML = f"""
tenant: {{slug: {PARTNER}, name: Benchshire Council}}
opening_hours: {{default: always}}
services:
  - {{code: general, name: General enquiries, skills: [general]}}
  - {{code: missed-bin, name: Missed bin, lgsl: 524, skills: [waste]}}
"""


def _publisher(url: str, exchange: str, routing_key: str, count: int, kind: str, started: mp.Value) -> None:  # type: ignore[type-arg]
    """Publish ``count`` messages, keeping up to 1,000 unconfirmed at a time (confirms as a stream)."""
    from plumbing.bus.amqp import AmqpConnection
    from plumbing.bus.base import OutgoingMessage

    async def run() -> None:
        connection = await AmqpConnection.open(url, name="bench-publisher")
        channel = await connection.channel()
        await channel.enable_confirms()
        now = datetime.now(UTC).isoformat()
        window: list[asyncio.Future[None]] = []
        started.value = time.time()
        for i in range(count):
            body = {
                "tenant": PARTNER,
                "channel": "web",
                "received_at": now,
                "service_code": "missed-bin",
                "n": i,
            }
            message = OutgoingMessage(
                exchange, routing_key, json.dumps(body).encode(), f"{kind}-{i}", "enquiry.v1"
            )
            window.append(channel.publish(message))
            if len(window) >= 1000:
                await asyncio.gather(*window)
                window.clear()
        await asyncio.gather(*window)
        await connection.close()

    asyncio.run(run())


def _bare_consumer(url: str, queue: str, count: int, done: mp.Value) -> None:  # type: ignore[type-arg]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=200)
    for seen, (method, _props, body) in enumerate(channel.consume(queue, auto_ack=False), start=1):
        json.loads(body)
        channel.basic_ack(method.delivery_tag)
        if seen >= count:
            done.value = time.time()
            break
    channel.cancel()
    connection.close()


def _event_counter(url: str, count: int, ready: mp.Event, done: mp.Value) -> None:  # type: ignore[type-arg]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare("hub.events", "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "hub.events", routing_key=f"{PARTNER}.enquiry.queued")
    channel.basic_qos(prefetch_count=1000)
    ready.set()
    seen: set[str] = set()
    for method, _props, body in channel.consume(queue, auto_ack=False):
        seen.add(json.loads(body)["message_id"])
        if len(seen) % 500 == 0:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if len(seen) >= count:
            done.value = time.time()
            break
    connection.close()


def bare_ceiling(scratch: Scratch, count: int) -> float:
    connection = pika.BlockingConnection(pika.URLParameters(scratch.amqp_url))
    channel = connection.channel()
    queue = f"bench.bare.{uuid.uuid4().hex[:6]}"
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    connection.close()
    started, done = mp.Value("d", 0.0), mp.Value("d", 0.0)
    consumer = mp.Process(target=_bare_consumer, args=(scratch.amqp_url, queue, count, done))
    consumer.start()
    publisher = mp.Process(target=_publisher, args=(scratch.amqp_url, "", queue, count, "bare", started))
    publisher.start()
    publisher.join()
    consumer.join(timeout=600)
    connection = pika.BlockingConnection(pika.URLParameters(scratch.amqp_url))
    connection.channel().queue_delete(queue)
    connection.close()
    return count / (done.value - started.value)


@dataclass(frozen=True)
class HubRun:
    rate: float  # enquiries per second, first publish to last enquiry.queued
    stored: int  # enquiries found in PostgreSQL afterwards
    worker_cpu_us: float  # the workers' CPU time per enquiry, microseconds
    worker_rss_mib: float  # the (first) worker's resident memory at the end


def hub_throughput(scratch: Scratch, count: int, workers: int = 1) -> HubRun:
    scratch.vacuum_if_no_autovacuum()
    env = scratch.env()
    procs = [
        subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=env, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        wait_for_intake(scratch.amqp_url)
        ready, started, done = mp.Event(), mp.Value("d", 0.0), mp.Value("d", 0.0)
        counter = mp.Process(target=_event_counter, args=(scratch.amqp_url, count, ready, done))
        counter.start()
        ready.wait(30)
        cpu_before = sum(cpu_seconds(proc.pid) for proc in procs)
        run_id = uuid.uuid4().hex[:6]
        publisher = mp.Process(
            target=_publisher, args=(scratch.amqp_url, "hub.intake", f"{PARTNER}.web", count, run_id, started)
        )
        publisher.start()
        publisher.join()
        counter.join(timeout=900)
        if counter.is_alive():
            counter.kill()
            raise RuntimeError("the hub did not queue every enquiry within 15 minutes")
        cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu_before
        stored = _count_enquiries(scratch, run_id)
        rss = rss_mib(procs[0].pid)
        return HubRun(count / (done.value - started.value), stored, cpu / count * 1e6, rss)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def wait_for_intake(url: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            connection.channel().queue_declare("hub.intake", passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.2)
        finally:
            if connection.is_open:
                connection.close()
    raise RuntimeError("the worker never declared hub.intake")


def _count_enquiries(scratch: Scratch, run_id: str) -> int:
    return int(scratch.psql(f"SELECT count(*) FROM enquiries WHERE message_id LIKE '{run_id}-%'"))


def prepare(scratch: Scratch, partner_yaml: str = PARTNER_YAML) -> None:
    """Migrate the scratch database and load the benchmark's partner (as the owner)."""
    env = scratch.env(owner=True)
    subprocess.run([sys.executable, "-m", "hub.cli", "migrate"], env=env, check=True, capture_output=True)
    path = Path(f"/tmp/{scratch.vhost}.yaml")
    path.write_text(partner_yaml)
    subprocess.run(
        [sys.executable, "-m", "hub.cli", "tenants", "load", str(path)],
        env=env,
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("bench/results/throughput.md"))
    args = parser.parse_args()
    bare, hub, lost = [], [], 0
    with scratch_services("tp") as scratch:
        prepare(scratch)
        for run in range(args.runs):
            bare.append(bare_ceiling(scratch, args.messages))
            result = hub_throughput(scratch, args.messages, args.workers)
            hub.append(result.rate)
            lost += args.messages - result.stored
            print(
                f"run {run + 1}: bare {bare[-1]:,.0f}/s, hub {result.rate:,.0f}/s, "
                f"stored {result.stored:,}/{args.messages:,}, worker CPU {result.worker_cpu_us:,.0f} µs/enquiry",
                flush=True,
            )
    bare_median, hub_median = statistics.median(bare), statistics.median(hub)
    table = (
        f"| measure | median of {args.runs} runs |\n| --- | --- |\n"
        f"| bare ceiling (pika consumer, quorum queue), msg/s | {bare_median:,.0f} |\n"
        f"| hub end to end ({args.workers} worker), enquiries/s | {hub_median:,.0f} |\n"
        f"| ratio hub ÷ bare | {hub_median / bare_median:.2f} |\n"
        f"| enquiries lost | {lost} |\n\n"
        f"{args.messages:,} messages per run; machine: {machine()}; {datetime.now(UTC):%Y-%m-%d}.\n"
    )
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
