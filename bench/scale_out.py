"""Scale-out: 3 `hub worker` and 2 `hub serve` processes on the same services, beside 1 and 1 (issue 23).

    .venv/bin/python -m bench.scale_out [--burst 3000] [--agent-seconds 20] [--agents 20] [--runs 1]

For each set-up (1 worker and 1 API, then 3 workers and 2 APIs) on its own scratch database, vhost and Redis
prefix: the processes start, then, each run, a burst of enquiries is published with streamed confirms while the
workers consume (intake rate: the burst over first publish → last ``queued_at``), then agents, each with its own
token, take the backlog through the APIs in turn (accept, complete, next) while a partner keeps publishing at a
steady rate (agent API rate: calls answered and requests served a second). At the end every message_id published
must be exactly one enquiry and nothing refused to ``hub.intake.rejected`` (the loss check), and every process
must stop on SIGTERM.

The processes, the publishers and the agents here are also those of ``tests/test_scale_out.py``: one copy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import pika.exceptions

from bench._services import Scratch, cpu_seconds, free_port, machine, scratch_services

Body = Callable[[str], dict[str, Any]]

# -- processes -----------------------------------------------------------------------------------------


@dataclass
class Processes:
    """Hub processes started from this one, each logging to its own file under ``logs``."""

    env: dict[str, str]
    logs: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.running.append((name, process))
        return process

    def check_alive(self) -> None:
        dead = [(n, p.returncode) for n, p in self.running if p.poll() is not None]
        if dead:
            raise RuntimeError(f"processes died: {dead}\n{self.tails()}")

    def tails(self) -> str:
        out = []
        for name, _ in self.running:
            lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name}\n" + "\n".join(lines[-15:]))
        return "\n".join(out)

    def stop_all(self, grace: float = 15.0) -> dict[str, float | None]:
        """SIGTERM to all, then SIGKILL what is still running after ``grace`` s; how long each took (None: killed)."""
        for _, process in self.running:
            if process.poll() is None:
                process.terminate()
        began = time.monotonic()
        took: dict[str, float | None] = {}
        for name, process in self.running:
            try:
                process.wait(timeout=max(0.1, grace - (time.monotonic() - began)))
                took[name] = round(time.monotonic() - began, 1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                took[name] = None
        return took


async def wait_until_ready(
    clients: list[httpx.AsyncClient], processes: Processes, timeout: float = 30
) -> None:
    """Every API process answers ``/readyz`` with 200."""
    deadline = time.monotonic() + timeout
    for client in clients:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    break
            processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the APIs are not ready within {timeout} s\n{processes.tails()}")
            await asyncio.sleep(0.2)


# -- the broker side -----------------------------------------------------------------------------------


def intake_consumers(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        count: int = connection.channel().queue_declare("hub.intake", passive=True).method.consumer_count
        return count
    except pika.exceptions.ChannelClosedByBroker:
        return 0  # not declared yet: the first worker declares the topology when it starts
    finally:
        if connection.is_open:
            connection.close()


async def wait_for_consumers(url: str, count: int, processes: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(intake_consumers, url) < count:
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} consumers not attached within {timeout}s\n{processes.tails()}")
        await asyncio.sleep(0.1)


def queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        depth: int = connection.channel().queue_declare(queue, passive=True).method.message_count
        return depth
    finally:
        connection.close()


def enquiry_body(slug: str) -> dict[str, Any]:
    """A phone enquiry for a missed bin, contract v1."""
    return {
        "tenant": slug,
        "channel": "phone",
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": "missed-bin",
    }


async def publish_burst(
    url: str, slug: str, count: int, body: Body = enquiry_body, prefix: str = "burst"
) -> list[str]:
    """Publish ``count`` enquiries with mandatory and confirms streamed (pika's asyncio adapter)."""
    from plumbing.bus.amqp import AmqpConnection
    from plumbing.bus.base import OutgoingMessage

    ids = [f"{prefix}-{uuid.uuid4().hex}" for _ in range(count)]
    connection = await AmqpConnection.open(url, name="partner-burst")
    try:
        channel = await connection.channel()
        await channel.enable_confirms()
        for start in range(0, count, 500):
            await channel.publish_many(
                [
                    OutgoingMessage(
                        exchange="hub.intake",
                        routing_key=f"{slug}.phone",
                        body=json.dumps(body(slug)).encode(),
                        message_id=m,
                        type="enquiry.v1",
                    )
                    for m in ids[start : start + 500]
                ]
            )
    finally:
        await connection.close()
    return ids


def publish_steady(
    url: str,
    slug: str,
    rate: float,
    stop: threading.Event,
    sent: list[str],
    body: Body = enquiry_body,
    prefix: str = "steady",
) -> None:
    """A partner's steady stream, run in a thread: plain pika, a confirm per message, ``rate`` a second."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        next_at = time.monotonic()
        while not stop.is_set():
            message_id = f"{prefix}-{uuid.uuid4().hex}"
            channel.basic_publish(
                "hub.intake",
                f"{slug}.phone",
                json.dumps(body(slug)).encode(),
                pika.BasicProperties(
                    message_id=message_id, content_type="application/json", type="enquiry.v1", delivery_mode=2
                ),
                mandatory=True,
            )
            sent.append(message_id)
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        connection.close()


# -- agents --------------------------------------------------------------------------------------------


@dataclass
class AgentStats:
    completed: int = 0
    rejected: int = 0
    ignored: int = 0
    stale: int = 0
    requests: Counter[int] = field(default_factory=Counter)  # per API process
    latencies: list[float] = field(default_factory=list)  # seconds, every request
    errors: list[str] = field(default_factory=list)  # answers the agent did not expect


async def work_as_agent(
    clients: list[httpx.AsyncClient],
    token: str,
    until: float,
    seed: int,
    stats: AgentStats,
    *,
    reservation_timeout: float,
    ignore_share: float = 0.0,
    reject_share: float = 0.0,
    ignore_first: bool = False,
) -> None:
    """Go available, then take offers until ``until``: accept and complete, or (by share) reject one or let it
    time out. Every call goes to the next API process in turn. Then hand back what is on offer and sign off."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    turn = seed

    async def call(
        method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response | None:
        nonlocal turn
        turn += 1
        api = turn % len(clients)
        stats.requests[api] += 1
        sent = time.monotonic()
        response = await clients[api].request(method, f"/api/v1/agents/me{path}", json=body, headers=headers)
        stats.latencies.append(time.monotonic() - sent)
        if response.status_code not in ok:
            stats.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        return response

    await call("PUT", "/status", {"status": "available"})
    while time.monotonic() < until:
        answer = await call("GET", "/offer")
        offer = answer.json()["offer"] if answer is not None else None
        if offer is None:
            await asyncio.sleep(0.05)
            continue
        enquiry_id = offer["enquiry_id"]
        roll = rng.random()
        if roll < ignore_share or (ignore_first and stats.ignored == 0):
            stats.ignored += 1  # let it time out: it must go to someone else, never to two at once
            await asyncio.sleep(reservation_timeout + 0.3)
        elif roll < ignore_share + reject_share:
            stats.rejected += 1
            await call("POST", "/offer/reject", {"enquiry_id": enquiry_id}, ok=(200, 409))
            await call("PUT", "/status", {"status": "available"})  # a reject makes the agent unavailable
        else:
            accepted = await call("POST", "/offer/accept", {"enquiry_id": enquiry_id}, ok=(200, 409))
            if accepted is None:
                continue
            if accepted.status_code == 409:
                # Under load the offer may expire between reading it and accepting it: it went back to
                # the queue (and perhaps to another agent), so this agent has nothing in hand.
                if accepted.json().get("code") != "stale_offer":
                    stats.errors.append(f"accept: 409 {accepted.text[:200]}")
                stats.stale += 1
                continue
            if await call("POST", "/complete", {"enquiry_id": enquiry_id, "outcome": "resolved"}):
                stats.completed += 1
    # Done: hand back what is on offer, then sign off (an offer arriving in between just times out later).
    answer = await call("GET", "/offer")
    offer = answer.json()["offer"] if answer is not None else None
    if offer is not None:
        await call("POST", "/offer/reject", {"enquiry_id": offer["enquiry_id"]}, ok=(200, 409))
    await call("PUT", "/status", {"status": "offline"}, ok=(200, 409))


# -- the benchmark -------------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    workers: int
    apis: int
    intake_per_s: list[float] = field(default_factory=list)  # one per run
    calls_per_s: list[float] = field(default_factory=list)  # calls answered (accept + complete) a second
    requests_per_s: list[float] = field(default_factory=list)  # agent API requests served a second
    latencies: list[float] = field(default_factory=list)  # every agent API request, seconds
    errors: list[str] = field(default_factory=list)
    calls: int = 0  # calls answered in all the runs
    # CPU seconds of all the `hub serve` and of all the `hub worker` processes while the agents work.
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    published: int = 0
    lost: int = 0  # message_ids published and not stored
    duplicated: int = 0  # message_ids stored more than once
    refused: int = 0  # in hub.intake.rejected
    stopped: dict[str, float | None] = field(default_factory=dict)  # seconds after SIGTERM (None: killed)


def _stored(scratch: Scratch, prefix: str) -> tuple[int, int, float | None]:
    """Rows and distinct message_ids stored under ``prefix``, and the last ``queued_at`` (epoch seconds)."""
    rows, distinct, last = scratch.psql(
        "SELECT count(*), count(DISTINCT message_id), coalesce(extract(epoch FROM max(queued_at))::text, '')"
        f" FROM enquiries WHERE message_id LIKE '{prefix}-%'"
    ).split("|")
    return int(rows), int(distinct), float(last) if last else None


def _cpu(processes: Processes) -> dict[str, float]:
    """CPU seconds so far of all the `hub serve` and of all the `hub worker` processes."""
    used = {"hub serve": 0.0, "hub worker": 0.0}
    for name, process in processes.running:
        used["hub serve" if name.startswith("api") else "hub worker"] += cpu_seconds(process.pid)
    return used


async def _intake_rate(scratch: Scratch, slug: str, burst: int, prefix: str, processes: Processes) -> float:
    """Enquiries queued a second for a burst published while the workers consume."""
    started = time.time()
    await publish_burst(scratch.amqp_url, slug, burst, prefix=prefix)
    deadline = time.monotonic() + 120
    while (stored := await asyncio.to_thread(_stored, scratch, prefix))[1] < burst:
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{stored[1]} of a burst of {burst} taken in within 120 s\n{processes.tails()}"
            )
        await asyncio.sleep(0.2)
    assert stored[2] is not None
    return burst / (stored[2] - started)


async def _run(
    scratch: Scratch,
    processes: Processes,
    result: ScaleRun,
    *,
    tokens: list[str],
    burst: int,
    agent_seconds: float,
    steady_rate: float,
    runs: int,
    slug: str,
) -> None:
    url = scratch.amqp_url
    ports = [free_port() for _ in range(result.apis)]
    for i, port in enumerate(ports):
        processes.start(f"api{i}", "serve", "--host", "127.0.0.1", "--port", str(port))
    for i in range(result.workers):
        processes.start(f"worker{i}", "worker")
    await wait_for_consumers(url, result.workers, processes)
    run_id = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    clients = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) for port in ports
    ]
    steady: list[str] = []
    try:
        await wait_until_ready(clients, processes)
        for run in range(runs):
            scratch.vacuum_if_no_autovacuum()
            result.intake_per_s.append(
                await _intake_rate(scratch, slug, burst, f"{run_id}-burst{run}", processes)
            )
            result.published += burst
            # The agents take the burst's backlog through the APIs while the partner keeps publishing.
            stop = threading.Event()
            publisher = asyncio.create_task(
                asyncio.to_thread(
                    publish_steady, url, slug, steady_rate, stop, steady, enquiry_body, f"{run_id}-steady"
                )
            )
            # Signed on before the clock starts (each through one API in turn, which warms both): what is timed
            # is the agents working, not a fresh process's first requests.
            signed_on = await asyncio.gather(
                *(
                    clients[i % len(clients)].put(
                        "/api/v1/agents/me/status",
                        json={"status": "available"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for i, token in enumerate(tokens)
                )
            )
            result.errors += [
                f"sign on: {r.status_code} {r.text[:200]}" for r in signed_on if r.status_code != 200
            ]
            stats = [AgentStats() for _ in tokens]
            cpu_before = _cpu(processes)
            began = time.monotonic()
            try:
                await asyncio.gather(
                    *(
                        work_as_agent(clients, t, began + agent_seconds, i, s, reservation_timeout=30)
                        for i, (t, s) in enumerate(zip(tokens, stats, strict=True))
                    )
                )
            finally:
                stop.set()
                await publisher
            took = time.monotonic() - began
            for kind, used in _cpu(processes).items():
                result.cpu_seconds[kind] = result.cpu_seconds.get(kind, 0.0) + used - cpu_before[kind]
            requests = sum(sum(s.requests.values()) for s in stats)
            calls = sum(s.completed for s in stats)
            result.calls += calls
            result.calls_per_s.append(calls / took)
            result.requests_per_s.append(requests / took)
            result.latencies += [x for s in stats for x in s.latencies]
            result.errors += [e for s in stats for e in s.errors]
            print(
                f"{result.workers} worker(s), {result.apis} API(s), run {run + 1}: intake "
                f"{result.intake_per_s[-1]:,.0f}/s; agents {calls / took:,.1f} calls/s, "
                f"{requests / took:,.0f} requests/s",
                flush=True,
            )
    finally:
        for client in clients:
            await client.aclose()
    # The loss check: every message_id published is exactly one enquiry, nothing refused.
    published = result.published + len(steady)
    deadline = time.monotonic() + 60
    while (stored := await asyncio.to_thread(_stored, scratch, run_id))[1] < published:
        processes.check_alive()
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    result.published = published
    result.lost = published - stored[1]
    result.duplicated = stored[0] - stored[1]
    result.refused = await asyncio.to_thread(queue_depth, url, "hub.intake.rejected")


def measure(
    *,
    workers: int,
    apis: int,
    agents: int,
    burst: int,
    agent_seconds: float,
    runs: int,
    steady_rate: float = 25.0,
) -> ScaleRun:
    """One set-up on its own scratch services: ``workers`` × `hub worker`, ``apis`` × `hub serve`."""
    from bench import latency, throughput

    result = ScaleRun(workers, apis)
    with scratch_services(f"scale{workers}x{apis}") as scratch:
        throughput.prepare(scratch, latency.partner_yaml(agents))
        tokens = list(asyncio.run(latency._tokens(scratch, agents)).values())
        env = scratch.env(
            intake_batch_wait_ms="5", reservation_timeout_seconds="30", missed_offers_before_not_ready="1000"
        )
        with tempfile.TemporaryDirectory(prefix="hub-bench-scale-") as logs:
            processes = Processes(env, Path(logs))
            try:
                asyncio.run(
                    _run(
                        scratch,
                        processes,
                        result,
                        tokens=tokens,
                        burst=burst,
                        agent_seconds=agent_seconds,
                        steady_rate=steady_rate,
                        runs=runs,
                        slug=throughput.PARTNER,
                    )
                )
            finally:
                result.stopped = processes.stop_all(grace=20)
    return result


def p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000 if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=3000, help="enquiries per intake burst")
    parser.add_argument("--agent-seconds", type=float, default=20.0, help="how long the agents work, per run")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for workers, apis in ((1, 1), (3, 2)):
        r = measure(
            workers=workers,
            apis=apis,
            agents=args.agents,
            burst=args.burst,
            agent_seconds=args.agent_seconds,
            runs=args.runs,
        )
        print(
            f"{workers} worker(s), {apis} API(s): intake {statistics.median(r.intake_per_s):,.0f}/s, "
            f"agents {statistics.median(r.calls_per_s):,.1f} calls/s "
            f"({statistics.median(r.requests_per_s):,.0f} requests/s, p99 {p99_ms(r.latencies):.0f} ms); "
            f"lost {r.lost}, duplicated {r.duplicated}, refused {r.refused} of {r.published:,}; "
            f"{len(r.errors)} API errors; stopped after SIGTERM {r.stopped}; CPU per answered call "
            f"{', '.join(f'{k} {v / max(r.calls, 1) * 1000:,.1f} ms' for k, v in r.cpu_seconds.items())}"
        )
        for error in r.errors[:5]:
            print(f"  {error}")


if __name__ == "__main__":
    main()
