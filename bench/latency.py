"""Latency at a steady rate, and the agent API under load (issue 10, items 3 and 4).

    .venv/bin/python -m bench.latency [--rate 500] [--seconds 20] [--agents 500] [--runs 3] [--hang-up | --free-pool]
        [--serve-log FILE] [--lock-waits]

On scratch services a `hub worker` and a `hub serve` run as the application role. N agents, each with its own
bearer token, go available over the API. A separate publisher process sends enquiries to ``hub.intake`` at a
steady rate with publisher confirms; each message_id carries its publish time. This process reads
``enquiry.offered`` from ``hub.events`` — publish → offered is the latency a telephony adapter would see — and
plays the agent named in each offer, as a person at the console would: ``POST …/offer/accept``, a short
handle time, then ``POST …/complete``, each request timed client side (each agent on a connection of its own:
``Consoles``). So the agents stay free, the offers keep coming, and accept and complete are measured with every
agent signed in at once. Printed at the end: the CPU per enquiry offered of each process that served the runs (the
worker, the server, this database's PostgreSQL backends, all of PostgreSQL, Redis, RabbitMQ, and the bench's own
client and publisher, which share the machine's cores with them).

``--lock-waits``: PostgreSQL logs every lock wait over 5 ms on the scratch database (``log_lock_waits``,
``deadlock_timeout`` 5 ms, set on that database only), and the run ends with them counted by lock, relation and
statement, each with its median and longest wait. The deadlock checks every 5 ms cost the server some CPU: compare
runs made alike.

``--hang-up``: no one answers; each caller hangs up as it rings, which frees the agent through intake (twice
the intake messages). ``--free-pool``: no one answers and no one hangs up; enough agents are signed in that an
idle one is always there, so what is timed is the routing path alone at the given rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench._services import (
    PG_ADMIN,
    BackendCpu,
    Scratch,
    cpu_seconds,
    cpu_used,
    free_port,
    machine,
    rss_mib,
    scratch_services,
    service_cpu,
)
from bench.throughput import PARTNER, prepare, wait_for_intake

PG_LOG = Path(os.environ.get("HUB_BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log"))
WARM_UP_SHARE = 0.1  # the first tenth of each run is not counted (connections and caches warming)


def partner_yaml(agents: int) -> str:
    lines = [
        f"tenant: {{slug: {PARTNER}, name: Benchshire Council}}",
        "opening_hours: {default: always}",
        "services:",
        "  - {code: general, name: General enquiries, skills: [general]}",
        "  - {code: missed-bin, name: Missed bin, lgsl: 524, skills: [waste]}",
        "agents:",
    ]
    lines += [f"  - {{id: {agent_id(i)}, name: Agent {i}, skills: [waste]}}" for i in range(agents)]
    return "\n".join(lines) + "\n"


def agent_id(i: int) -> str:
    return f"bench-agent-{i:04d}"


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass
class RunFigures:
    sent: int = 0
    latency_ms: list[float] = field(default_factory=list)
    accept_ms: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    offered: int = 0
    answered: int = 0


def _steady_publisher(url: str, run_id: str, rate: float, count: int) -> None:
    """Publish ``count`` enquiries at ``rate`` per second; confirms are awaited in the background."""
    from plumbing.bus.amqp import AmqpConnection
    from plumbing.bus.base import OutgoingMessage

    async def run() -> None:
        connection = await AmqpConnection.open(url, name="bench-steady-publisher")
        channel = await connection.channel()
        await channel.enable_confirms()
        pending: list[asyncio.Future[None]] = []
        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {
                "tenant": PARTNER,
                "channel": "phone",
                "received_at": datetime.now(UTC).isoformat(),
                "service_code": "missed-bin",
            }
            message_id = f"{run_id}-{i}-{time.time_ns()}"
            pending.append(
                channel.publish(
                    OutgoingMessage(
                        "hub.intake", f"{PARTNER}.phone", json.dumps(body).encode(), message_id, "enquiry.v1"
                    )
                )
            )
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await connection.close()

    asyncio.run(run())
    # Out at once, without the interpreter's teardown: this process is a fork of the bench, and collecting its
    # copy of the bench's heap took hundreds of milliseconds of CPU just as the run's last calls were answered.
    os._exit(0)


class Consoles:
    """The agents' consoles: each agent's own kept-alive HTTP/1.1 connections, a request written and its answer
    read on one of them, as a console holding its connection would.

    Not httpx: its pool looks through every connection at each request (500 agents, 500 connections), and that
    cost this bench ~21 ms of CPU per call at 50 calls/s, more than the hub's worker and server together, on the
    same two cores (py-spy, docs/benchmarks.md, branch `api50`). This reads only what the agent API answers: a
    status line, headers and a ``Content-Length`` body.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def post(self, path: str, payload: bytes, token: str) -> tuple[int, bytes]:
        """POST ``payload`` (JSON) to ``path`` with the agent's bearer token; the status and the body."""
        idle = self._idle.setdefault(token, [])
        reader, writer = idle.pop() if idle else await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\nauthorization: Bearer {token}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length, keep = 0, True
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    keep = value.strip().lower() != b"close"
                elif name == b"transfer-encoding":
                    raise ValueError("a chunked answer: the agent API sends Content-Length")
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep:
            idle.append((reader, writer))
        else:
            writer.close()
        return int(head[9:12]), body

    def close(self) -> None:
        for idle in self._idle.values():
            for _reader, writer in idle:
                writer.close()
        self._idle.clear()


async def _tokens(scratch: Scratch, agents: int) -> dict[str, str]:
    """One bearer token per agent, made as an operator would (`hub token create`), in one transaction."""
    from plumbing.db.scope import tenant_scope
    from plumbing.db.session import create_engine, create_sessionmaker, unit_of_work
    from tenants.tokens import create_token

    engine = create_engine(scratch.database_url)
    try:
        with tenant_scope("*"):
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return {
                    agent_id(i): await create_token(session, role="agent", agent_id=agent_id(i))
                    for i in range(agents)
                }
    finally:
        await engine.dispose()


async def _wait_for_http(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("hub serve did not answer /healthz within 30 s")


async def _one_run(
    scratch: Scratch,
    client: httpx.AsyncClient | None,
    tokens: dict[str, str],
    *,
    rate: float,
    seconds: float,
    handle_seconds: float | None,
    hang_up: bool = True,
) -> RunFigures:
    """One run. ``handle_seconds`` None: no one answers; with ``hang_up`` each caller hangs up as it rings (which
    frees the agent), without it the offer simply stands (enough agents are signed in that none is needed twice).
    """
    from plumbing.bus.amqp import AmqpConnection
    from plumbing.bus.base import OutgoingMessage

    figures = RunFigures(sent=int(rate * seconds))
    run_id = uuid.uuid4().hex[:6]
    connection = await AmqpConnection.open(scratch.amqp_url, name="bench-agents")
    channel = await connection.channel()
    await channel.enable_confirms()
    hang_ups: list[asyncio.Future[None]] = []
    raw = channel.raw
    declared: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    raw.queue_declare("", exclusive=True, callback=lambda frame: declared.set_result(frame.method.queue))
    queue = await declared
    bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    raw.queue_bind(
        queue, "hub.events", f"{PARTNER}.enquiry.offered", callback=lambda _f: bound.set_result(None)
    )
    await bound
    offers: asyncio.Queue[tuple[float, dict[str, object]]] = asyncio.Queue()
    raw.basic_consume(
        queue,
        lambda _ch, _method, _props, body: offers.put_nowait((time.time_ns() / 1e6, json.loads(body))),
        auto_ack=True,
    )
    publisher = mp.Process(target=_steady_publisher, args=(scratch.amqp_url, run_id, rate, figures.sent))
    publisher.start()
    agents_busy: set[asyncio.Task[None]] = set()
    counted_from = int(figures.sent * WARM_UP_SHARE)

    consoles = Consoles(client.base_url.host, client.base_url.port or 80) if client is not None else None

    async def post(path: str, body: dict[str, object], token: str) -> tuple[float, int, str]:
        """One request, timed; a kept-alive connection the server has just closed is retried once."""
        assert consoles is not None
        payload = json.dumps(body).encode()
        for attempt in range(2):
            started = time.perf_counter()
            try:
                status, text = await consoles.post(path, payload, token)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if attempt:
                    return (time.perf_counter() - started) * 1000, 0, repr(exc)
                continue
            return (time.perf_counter() - started) * 1000, status, text[:120].decode(errors="replace")
        raise AssertionError("unreachable")

    def hang_up_call(message_id: str) -> None:
        """The caller hangs up while it rings: ``enquiry.withdrawn.v1`` frees the agent through intake."""
        body = {
            "tenant": PARTNER,
            "message_id": message_id,
            "reason": "caller_hung_up",
            "at": datetime.now(UTC).isoformat(),
        }
        hang_ups.append(
            channel.publish(
                OutgoingMessage(
                    "hub.intake",
                    f"{PARTNER}.phone",
                    json.dumps(body).encode(),
                    f"hang-up-{message_id}",
                    "enquiry.withdrawn.v1",
                )
            )
        )

    async def play(agent: str, enquiry_id: int, counted: bool) -> None:
        assert handle_seconds is not None
        token = tokens[agent]
        accept_ms, status, text = await post(
            f"/api/v1/agents/{agent}/offer/accept", {"enquiry_id": enquiry_id}, token
        )
        if status != 200:
            figures.errors.append(f"accept {status} {text}")
            return
        figures.answered += 1
        await asyncio.sleep(handle_seconds)
        complete_ms, status, text = await post(
            f"/api/v1/agents/{agent}/complete", {"enquiry_id": enquiry_id, "outcome": "resolved"}, token
        )
        if status != 200:
            figures.errors.append(f"complete {status} {text}")
            return
        if counted:
            figures.accept_ms.append(accept_ms)
            figures.complete_ms.append(complete_ms)

    deadline = time.monotonic() + seconds + 60
    while figures.offered < figures.sent and time.monotonic() < deadline:
        try:
            received_ms, event = await asyncio.wait_for(offers.get(), timeout=1.0)
        except TimeoutError:
            continue
        run, index, published_ns = str(event["message_id"]).split("-")
        if run != run_id:
            continue
        figures.offered += 1
        counted = int(index) >= counted_from
        if counted:
            figures.latency_ms.append(received_ms - int(published_ns) / 1e6)
        if handle_seconds is None:
            if hang_up:
                hang_up_call(str(event["message_id"]))
            continue
        task = asyncio.create_task(play(str(event["agent_id"]), int(str(event["enquiry_id"])), counted))
        agents_busy.add(task)
        task.add_done_callback(agents_busy.discard)
    # In a thread: a blocking join here held this event loop while the publisher process shut down (hundreds of
    # milliseconds), and every accept and complete then in flight was timed with that wait in it.
    await asyncio.to_thread(publisher.join)
    if agents_busy:
        await asyncio.wait(agents_busy, timeout=60)
    await asyncio.gather(*hang_ups)
    await connection.close()
    if consoles is not None:
        consoles.close()
    return figures


@dataclass
class Measured:
    runs: list[RunFigures]
    rss_mib: dict[str, float]  # each hub process's resident memory at the end
    # Each hub process's CPU time per enquiry offered (the serve's: its accept and complete).
    cpu_us: dict[str, float]


def measure(
    scratch: Scratch,
    *,
    rate: float,
    seconds: float,
    agents: int,
    runs: int,
    handle_seconds: float | None,
    serve_log: str | None = None,
) -> Measured:
    """Start a worker and an API server on the scratch services and run the load ``runs`` times; ``serve_log``:
    a file for the server's log (its slow requests, each with its steps: plumbing/tracing.py)."""
    env = scratch.env()
    port = free_port()
    log_to = open(serve_log, "ab") if serve_log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    processes = [
        subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log_to,
            stderr=log_to,
        ),
    ]
    try:
        wait_for_intake(scratch.amqp_url)
        results, cpu_seconds_used = asyncio.run(
            _measure(
                scratch,
                port,
                rate=rate,
                seconds=seconds,
                agents=agents,
                runs=runs,
                handle=handle_seconds,
                pids=[p.pid for p in processes],
            )
        )
        rss = {"hub worker": rss_mib(processes[0].pid), "hub serve": rss_mib(processes[1].pid)}
        offered = sum(r.offered for r in results) or 1
        cpu = {name: used / offered * 1e6 for name, used in cpu_seconds_used.items()}
        return Measured(results, rss, cpu)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.wait(timeout=30)
        if serve_log:
            log_to.close()  # type: ignore[union-attr]


def free_pool_agents(rate: float, seconds: float) -> int:
    """Agents enough that each run's every offer finds one idle (none is offered twice in a run)."""
    return int(rate * seconds * 1.1) + 100


def measure_free_pool(scratch: Scratch, *, rate: float, seconds: float, runs: int) -> Measured:
    """Publish → offered with an idle agent always there: the routing path alone, nothing to free agents.

    Before each run every agent is made available and the waiting work closed, straight in PostgreSQL, and the
    live state dropped; the run's `hub worker` rebuilds it at start (every agent idle in its pools). Offers are
    held for 10 minutes, so none times out during a run.
    """
    results: list[RunFigures] = []
    cpu: list[float] = []
    rss: dict[str, float] = {}
    for run in range(runs):
        scratch.vacuum_if_no_autovacuum()
        scratch.psql(
            "UPDATE agents SET status = 'available', missed_offers = 0;"
            " UPDATE enquiries SET state = 'abandoned', agent_id = NULL, handler_slug = NULL"
            " WHERE state IN ('queued', 'offered')"
        )
        scratch.drop_live_state()
        env = scratch.env(reservation_timeout_seconds="600")
        worker = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_intake(scratch.amqp_url)
            deadline = time.monotonic() + 120
            while not scratch.live_state_built():
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker did not rebuild the live state within 2 minutes")
                time.sleep(0.2)
            before = cpu_seconds(worker.pid)
            figures = asyncio.run(
                _one_run(scratch, None, {}, rate=rate, seconds=seconds, handle_seconds=None, hang_up=False)
            )
            cpu.append((cpu_seconds(worker.pid) - before) / max(figures.offered, 1) * 1e6)
            rss = {"hub worker": rss_mib(worker.pid)}
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        results.append(figures)
        print(
            f"run {run + 1}: {figures.offered:,}/{figures.sent:,} offered, publish→offered "
            f"p50 {percentile(figures.latency_ms, 0.5):.1f} ms p99 {percentile(figures.latency_ms, 0.99):.1f} ms",
            flush=True,
        )
    return Measured(results, rss, {"hub worker": statistics.median(cpu)})


async def _measure(
    scratch: Scratch,
    port: int,
    *,
    rate: float,
    seconds: float,
    agents: int,
    runs: int,
    handle: float | None,
    pids: list[int],
) -> tuple[list[RunFigures], dict[str, float]]:
    """The runs, and each process's CPU seconds during them (sign-in and set-up left out): the hub's, the
    services', and this bench's own (its agents' HTTP client and the offers' consumer, and its publisher)."""
    tokens = await _tokens(scratch, agents)
    limits = httpx.Limits(max_connections=agents, max_keepalive_connections=agents)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        await _wait_for_http(client)
        for agent, token in tokens.items():
            response = await client.put(
                f"/api/v1/agents/{agent}/status",
                json={"status": "available"},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
        results = []
        cpu_before = [cpu_seconds(pid) for pid in pids]
        services_before = service_cpu(scratch)
        backends = BackendCpu(scratch.vhost)
        backends.start()
        own_before = os.times()
        for run in range(runs):
            scratch.vacuum_if_no_autovacuum()
            figures = await _one_run(
                scratch, client, tokens, rate=rate, seconds=seconds, handle_seconds=handle
            )
            results.append(figures)
            print(
                f"run {run + 1}: {figures.offered:,}/{figures.sent:,} offered, "
                f"publish→offered p50 {percentile(figures.latency_ms, 0.5):.1f} ms "
                f"p99 {percentile(figures.latency_ms, 0.99):.1f} ms; "
                f"accept p99 {percentile(figures.accept_ms, 0.99):.1f} ms, "
                f"complete p99 {percentile(figures.complete_ms, 0.99):.1f} ms; "
                f"{len(figures.errors)} errors",
                flush=True,
            )
            for error in figures.errors[:5]:
                print(f"  {error}", flush=True)
        own_after = os.times()
        services_after = service_cpu(scratch)
        backends_used = backends.stop()
        used = {
            name: cpu_seconds(pid) - before
            for name, pid, before in zip(("hub worker", "hub serve"), pids, cpu_before, strict=True)
        }
        used["postgres (this database's backends)"] = backends_used
        for name, readings in services_after.items():
            used[name] = cpu_used(services_before[name], readings)
        used["bench client"] = (own_after.user + own_after.system) - (own_before.user + own_before.system)
        used["bench publisher"] = (own_after.children_user + own_after.children_system) - (
            own_before.children_user + own_before.children_system
        )
        return results, used


def summary(results: list[RunFigures]) -> dict[str, float]:
    """Medians over the runs of each run's percentiles."""

    def median_of(values: str, share: float) -> float:
        return statistics.median(percentile(getattr(r, values), share) for r in results)

    return {
        "latency_p50_ms": median_of("latency_ms", 0.5),
        "latency_p99_ms": median_of("latency_ms", 0.99),
        "accept_p50_ms": median_of("accept_ms", 0.5),
        "accept_p99_ms": median_of("accept_ms", 0.99),
        "complete_p50_ms": median_of("complete_ms", 0.5),
        "complete_p99_ms": median_of("complete_ms", 0.99),
        "lost": sum(r.sent - r.offered for r in results),
        "errors": sum(len(r.errors) for r in results),
    }


def log_lock_waits(scratch: Scratch) -> None:
    """Every lock wait over 5 ms on the scratch database goes to PostgreSQL's log (superuser settings, set on this
    database only: the server is shared). Set before the hub's processes connect: a session reads them at start."""
    for setting in ("log_lock_waits = on", "deadlock_timeout = '5ms'"):
        subprocess.run(
            ["psql", PG_ADMIN, "-qc", f"ALTER DATABASE {scratch.vhost} SET {setting}"],
            check=True,
            capture_output=True,
        )


def lock_waits(scratch: Scratch, log: Path = PG_LOG) -> dict[str, list[float]]:
    """The lock waits this database's sessions logged (``log_lock_waits``), by what was waited on (the lock, the
    relation of the tuple in the log's context, the statement's start): each wait's milliseconds when it ended."""
    waits: dict[str, list[float]] = {}
    if not log.exists():
        return waits
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if f"@{scratch.vhost} LOG:" not in line or " acquired " not in line:
            continue
        lock, after = line.split(" acquired ", 1)[1].rsplit(" after ", 1)
        lock = re.sub(r"transaction \d+", "transaction …", lock.strip())
        lock = re.sub(r"tuple \(\d+,\d+\)", "tuple (…)", lock)
        context = statement = ""
        for more in lines[i + 1 : i + 8]:
            if " LOG: " in more:
                break
            if "CONTEXT:" in more:
                context = re.sub(r"\(\d+,\d+\)", "(…)", more.split("CONTEXT:", 1)[1].strip())
            if "STATEMENT:" in more:
                statement = " ".join(more.split("STATEMENT:", 1)[1].split())[:50]
        key = f"{lock}; {context}; {statement}"
        waits.setdefault(key, []).append(float(after.split()[0]))
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="enquiries per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument(
        "--handle-seconds",
        type=float,
        default=0.2,
        help="agents accept over the API, hold each call this long, then complete it",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--hang-up",
        action="store_true",
        help="no one answers: each caller hangs up as it rings (frees the agent)",
    )
    mode.add_argument(
        "--free-pool",
        action="store_true",
        help="no one answers and no one hangs up: enough agents signed in that one is always idle",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--serve-log",
        metavar="FILE",
        help="append `hub serve`'s log here: each request slower than HUB_TRACE_SLOW_MS with its steps",
    )
    parser.add_argument(
        "--lock-waits",
        action="store_true",
        help="PostgreSQL logs every lock wait over 5 ms on the scratch database (its server log: the relation, "
        "the tuple, the blocking process); counted at the end",
    )
    args = parser.parse_args()
    agents = free_pool_agents(args.rate, args.seconds) if args.free_pool else args.agents
    with scratch_services("lat") as scratch:
        prepare(scratch, partner_yaml(agents))
        if args.lock_waits:
            log_lock_waits(scratch)
        if args.free_pool:
            measured = measure_free_pool(scratch, rate=args.rate, seconds=args.seconds, runs=args.runs)
        else:
            measured = measure(
                scratch,
                rate=args.rate,
                seconds=args.seconds,
                agents=agents,
                runs=args.runs,
                handle_seconds=None if args.hang_up else args.handle_seconds,
                serve_log=args.serve_log,
            )
        waits = lock_waits(scratch) if args.lock_waits else None
    figures = summary(measured.runs)
    if waits is not None:
        print("lock waits over 5 ms (PostgreSQL's log): count, median and max ms, what was waited on")
        for what, times in sorted(waits.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(times):5d} {statistics.median(times):7.1f} {max(times):7.1f}  {what}")
    print(
        f"\nmedian of {args.runs} runs at {args.rate:.0f}/s with {agents} agents: "
        + ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
        + f"\nresident memory: {', '.join(f'{k} {v:.0f} MiB' for k, v in measured.rss_mib.items())}"
        + f"\nCPU per enquiry: {', '.join(f'{k} {v:,.0f} µs' for k, v in measured.cpu_us.items())}"
        + f"\nmachine: {machine()}"
    )


if __name__ == "__main__":
    main()
