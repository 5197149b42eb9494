"""The committee's figures at a partner's volume (issue 19): months of 10⁴, 10⁵ and 10⁶ contacts.

    .venv/bin/python -m bench.figures [--sizes 10000 100000 1000000] [--runs 3] [--month 2027-01 [--uncounted]]

For each size, on scratch services: one partner (six services, three channels, 200 agents) and a month (November
2026) of contacts written in the shapes the worker writes — ``enquiries``, ``enquiry_events`` (received, queued,
offered, answered or abandoned, completed with an outcome) and ``agent_events`` (busy, wrap-up, available) — by
set-based SQL, then counted by the real upkeep's fold (``routing.tallies.rebuild``, a day at a time). A
``hub serve`` runs as the application role; timed, medians of ``--runs``: ``…/metrics`` and ``…/figures`` for
the month, ``…/periods/2026-11``, the ``/committee`` page, the PDF pack; ``hub serve``'s resident memory after
them; the agent API's p99 (``GET /api/v1/agents/{id}``) while the committee page and a pack are being served;
accept and complete timed while the agents answer calls (``--at-work-rate``, 20 a second) and a committee member
opens the page and a pack again and again (``agents_at_work``: a ``hub worker`` and ``bench.latency``'s agents);
and a plain SQL aggregate over the month's events as the anchor. Then, in process, the CPU of recording an
intake batch of 100 new contacts with and without the tallies' upkeep, and the worker's CPU per enquiry from
intake to offered with and without it (``end_to_end_cpu``; ``--intake-only`` runs just these two).

``--month 2027-01`` writes and reads January 2027, whose definitions (2027.1) count short abandons under 10 s;
``--uncounted`` then leaves the tallies' 10-second column NULL, as rows kept before migration 0020 are until
``hub figures rebuild``, so the month is read from the event log: the two read paths on the same data.

The machine is shared: every figure is noisy; medians and ratios measured in the same run are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench._services import Scratch, free_port, machine, rss_mib, scratch_services
from bench.throughput import prepare

PARTNER = "benchshire"
AGENTS = 200
MONTH = "2026-11"  # ``--month`` sets these three (January 2027: the definitions 2027.1, short abandons under 10 s)
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
SERVICES = ("bulky-waste", "council-tax", "general", "housing-repair", "missed-bin", "parking")
LGSL = (524, 58, 69, 555, 557, 564)  # codes the Local Government Service List holds (the catalogue checks)


def _set_month(period: str) -> None:
    """The month every part of the bench writes and reads (module-wide, as the bench's SQL is built from it)."""
    global MONTH, MONTH_START, MONTH_END
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    MONTH, MONTH_START = period, start
    MONTH_END = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


async def _serving_and_signed_in(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    """Wait until ``hub serve`` answers (``client``), then sign the committee member in on ``reader``."""
    for _ in range(300):
        try:
            if (await client.get("/healthz")).status_code == 200:
                break
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    signed = await reader.post(
        "/sign-in",
        data={"username": "bench-committee", "password": "bench-password-0123", "next": "/"},
    )
    assert signed.status_code == 303, signed.text


def partner_yaml() -> str:
    lines = [
        f"tenant: {{slug: {PARTNER}, name: Benchshire County Council}}",
        "opening_hours: {default: always}",
        "services:",
    ]
    lines += [
        f"  - {{code: {code}, name: {code.replace('-', ' ').title()}, skills: [general], lgsl: {LGSL[i]}, "
        f"service_level: {{answer_within_seconds: {20 + 5 * i}, target: 0.8}}}}"
        for i, code in enumerate(SERVICES)
    ]
    lines.append("agents:")
    lines += [f"  - {{id: {agent(i)}, name: Agent {i}, skills: [general]}}" for i in range(AGENTS)]
    return "\n".join(lines) + "\n"


def agent(i: int) -> str:
    return f"bench-agent-{i:04d}"


def generate_sql(n: int) -> list[str]:
    """Set-based SQL writing ``n`` contacts spread evenly over the month, as the worker would have written them.

    Contact i: wait (7i mod 60) s; one in ten abandons; talk 60 + (13i mod 240) s; wrap-up (i mod 3) × 10 s; the
    agent is i mod 200, so one agent's contacts never overlap (they are 200 × the spacing apart).
    """
    spacing = (MONTH_END - MONTH_START).total_seconds() / n
    q = f"(TIMESTAMPTZ '{MONTH_START.isoformat()}' + make_interval(secs => i * {spacing}))"
    ag = f"'bench-agent-' || lpad((i % {AGENTS})::text, 4, '0')"
    return [
        "CREATE TEMP TABLE bench_services AS SELECT (row_number() OVER (ORDER BY code)) - 1 AS k, id, code "
        f"FROM services WHERE tenant_slug = '{PARTNER}'",
        "CREATE TEMP TABLE bench_contacts AS SELECT i, "
        f"{q} AS q, (i * 7) % 60 AS w, 60 + (i * 13) % 240 AS talk, (i % 3) * 10 AS wrap, i % 10 = 0 AS gone, "
        f"{ag} AS agent FROM generate_series(0, {n - 1}) AS i",
        "INSERT INTO enquiries (reference, tenant_slug, message_id, channel, service_id, service_code, priority, "
        "received_at, created_at, queued_at, state, agent_id, handler_slug, outcome, customer, attributes, "
        "catalogue_version) "
        f"SELECT 'BEN-' || i, '{PARTNER}', 'bench-' || i, (ARRAY['phone','web','email'])[1 + i % 3], s.id, s.code, "
        "5, q, q, q, CASE WHEN gone THEN 'abandoned' ELSE 'completed' END, CASE WHEN gone THEN NULL ELSE agent END, "
        f"CASE WHEN gone THEN NULL ELSE '{PARTNER}' END, CASE WHEN gone THEN NULL ELSE 'resolved' END, "
        f"'{{}}', '{{}}', (SELECT catalogue_version FROM tenants WHERE slug = '{PARTNER}') "
        f"FROM bench_contacts JOIN bench_services s ON s.k = i % {len(SERVICES)}",
        "CREATE TEMP TABLE bench_ids AS SELECT e.id, c.* FROM enquiries e "
        "JOIN bench_contacts c ON e.message_id = 'bench-' || c.i",
        "INSERT INTO enquiry_events (enquiry_id, tenant_slug, event, at, agent_id, handler_slug, data) "
        f"SELECT id, '{PARTNER}', 'enquiry.received', q, NULL::text, NULL::text, '{{}}'::jsonb FROM bench_ids "
        f"UNION ALL SELECT id, '{PARTNER}', 'enquiry.queued', q, NULL, NULL, "
        """'{"queue": "general", "reasons": ["bench"]}' FROM bench_ids """
        f"UNION ALL SELECT id, '{PARTNER}', 'enquiry.abandoned', q + make_interval(secs => i % 40), NULL, NULL, "
        """'{"reason": "caller_hung_up"}' FROM bench_ids WHERE gone """
        f"UNION ALL SELECT id, '{PARTNER}', 'enquiry.offered', q + make_interval(secs => w), agent, '{PARTNER}', "
        "'{}' FROM bench_ids WHERE NOT gone "
        f"UNION ALL SELECT id, '{PARTNER}', 'enquiry.answered', q + make_interval(secs => w), agent, '{PARTNER}', "
        "'{}' FROM bench_ids WHERE NOT gone "
        f"UNION ALL SELECT id, '{PARTNER}', 'enquiry.completed', q + make_interval(secs => w + talk), agent, "
        f"""'{PARTNER}', CASE WHEN i % 25 = 0 THEN '{{"outcome": "resolved", "tags": ["avoidable"]}}'::jsonb """
        """ELSE '{"outcome": "resolved"}'::jsonb END FROM bench_ids WHERE NOT gone""",
        "INSERT INTO agent_events (agent_id, tenant_slug, status, previous, at, reason) "
        f"SELECT a.id, '{PARTNER}', 'available', 'offline', TIMESTAMPTZ '{MONTH_START.isoformat()}', 'bench' "
        f"FROM agents a WHERE a.tenant_slug = '{PARTNER}' "
        f"UNION ALL SELECT agent, '{PARTNER}', 'busy', 'available', q + make_interval(secs => w), 'accepted' "
        "FROM bench_ids WHERE NOT gone "
        f"UNION ALL SELECT agent, '{PARTNER}', 'wrap_up', 'busy', q + make_interval(secs => w + talk), 'completed' "
        "FROM bench_ids WHERE NOT gone AND wrap > 0 "
        f"UNION ALL SELECT agent, '{PARTNER}', 'available', CASE WHEN wrap > 0 THEN 'wrap_up' ELSE 'busy' END, "
        "q + make_interval(secs => w + talk + wrap), 'ready' FROM bench_ids WHERE NOT gone "
        f"UNION ALL SELECT a.id, '{PARTNER}', 'offline', 'available', "
        f"TIMESTAMPTZ '{(MONTH_END - timedelta(seconds=1)).isoformat()}', 'bench' "
        f"FROM agents a WHERE a.tenant_slug = '{PARTNER}'",
        f"UPDATE agents SET status = 'offline', status_since = TIMESTAMPTZ '{MONTH_END.isoformat()}' "
        f"WHERE tenant_slug = '{PARTNER}'",
    ]


ORIGIN = "TIMESTAMPTZ '2000-01-01T00:00:00+00:00'"


def tallies_sql() -> list[str]:
    """The generated month's tallies, set-based (the same counts the upkeep's fold makes of these shapes: the
    benchmark checks it against ``routing.tallies.rebuild`` on its smallest month). Run after ``generate_sql``,
    in the same session."""
    from routing.tallies import STRIPES  # each contact in its stripe's row, as the upkeep keeps them

    threshold = f"20 + 5 * (i % {len(SERVICES)})"
    wait = "CASE WHEN gone THEN i % 40 ELSE w END"
    return [
        "INSERT INTO contact_facts (enquiry_id, tenant_slug, service_code, channel, threshold_seconds, queued_at, "
        "answered_at, abandoned_at, completed_at, completed_by, handler_slug, agreement_id, pending_agreement, "
        "outcome, wrap_seconds, transferred, callback, avoidable) "
        f"SELECT b.id, '{PARTNER}', s.code, (ARRAY['phone','web','email'])[1 + i % 3], {threshold}, q, "
        "CASE WHEN gone THEN NULL ELSE q + make_interval(secs => w) END, "
        "CASE WHEN gone THEN q + make_interval(secs => i % 40) END, "
        "CASE WHEN gone THEN NULL ELSE q + make_interval(secs => w + talk) END, CASE WHEN gone THEN NULL ELSE agent END, "
        f"CASE WHEN gone THEN NULL ELSE '{PARTNER}' END, NULL, NULL, CASE WHEN gone THEN NULL ELSE 'resolved' END, "
        "CASE WHEN gone THEN 0 ELSE wrap END, false, false, NOT gone AND i % 25 = 0 "
        f"FROM bench_ids b JOIN bench_services s ON s.k = i % {len(SERVICES)}",
        "INSERT INTO figure_tallies (tenant_slug, slot, service_code, channel, handler_slug, agreement_id, stripe, offered, "
        "answered, answered_within, abandoned, short_abandoned, answered_wait, handled, handle_seconds, resolved, "
        "callbacks, transfers, avoidable, longest_wait, short_abandoned_10s) "
        f"SELECT '{PARTNER}', date_bin('15 minutes', q, {ORIGIN}), s.code, (ARRAY['phone','web','email'])[1 + i % 3], "
        f"CASE WHEN gone THEN '' ELSE '{PARTNER}' END, '', b.id % {STRIPES}, count(*), count(*) FILTER (WHERE NOT gone), "
        f"count(*) FILTER (WHERE NOT gone AND w <= {threshold}), count(*) FILTER (WHERE gone), "
        "count(*) FILTER (WHERE gone AND i % 40 < 5), coalesce(sum(w) FILTER (WHERE NOT gone), 0), "
        "count(*) FILTER (WHERE NOT gone), coalesce(sum(talk + wrap) FILTER (WHERE NOT gone), 0), "
        f"count(*) FILTER (WHERE NOT gone), 0, 0, count(*) FILTER (WHERE NOT gone AND i % 25 = 0), max({wait}), "
        "count(*) FILTER (WHERE gone AND i % 40 < 10) "
        f"FROM bench_ids b JOIN bench_services s ON s.k = i % {len(SERVICES)} GROUP BY 1, 2, 3, 4, 5, 6, 7",
        "INSERT INTO agent_tallies (agent_id, tenant_slug, slot, handling_seconds, available_seconds) "
        f"SELECT agent_id, '{PARTNER}', g, "
        "sum(CASE WHEN status IN ('busy', 'wrap_up') THEN secs ELSE 0 END), "
        "sum(CASE WHEN status = 'available' THEN secs ELSE 0 END) FROM ("
        "SELECT agent_id, status, at AS b, lead(at) OVER (PARTITION BY agent_id ORDER BY at, id) AS e "
        f"FROM agent_events WHERE tenant_slug = '{PARTNER}') AS spells, "
        f"LATERAL generate_series(date_bin('15 minutes', b, {ORIGIN}), e - interval '1 microsecond', "
        "interval '15 minutes') AS g, "
        "LATERAL (SELECT extract(epoch FROM least(e, g + interval '15 minutes') - greatest(b, g))::float AS secs) x "
        "WHERE e > b AND status IN ('busy', 'wrap_up', 'available') GROUP BY agent_id, g",
        "ANALYZE",
    ]


TALLY_COLUMNS = (
    "tenant_slug, slot, service_code, channel, handler_slug, agreement_id, stripe, offered, answered, answered_within, "
    "abandoned, short_abandoned, round(answered_wait::numeric, 6) AS answered_wait, handled, round(handle_seconds::numeric, 6) AS handle_seconds, "
    "resolved, callbacks, transfers, avoidable, round(longest_wait::numeric, 6) AS longest_wait, short_abandoned_10s"
)
AGENT_COLUMNS = "agent_id, slot, round(handling_seconds::numeric, 6) AS handling_seconds, round(available_seconds::numeric, 6) AS available_seconds"


def differences(scratch: Scratch) -> int:
    """Rows that differ between the set-based tallies and the real fold's (``rebuild``): both ways, both tables."""
    scratch.psql(f"CREATE TABLE kept_tallies AS SELECT {TALLY_COLUMNS} FROM figure_tallies")
    scratch.psql(f"CREATE TABLE kept_agents AS SELECT {AGENT_COLUMNS} FROM agent_tallies")
    asyncio.run(count(scratch))
    total = 0
    for columns, table, kept in (
        (TALLY_COLUMNS, "figure_tallies", "kept_tallies"),
        (AGENT_COLUMNS, "agent_tallies", "kept_agents"),
    ):
        total += int(
            scratch.psql(
                f"SELECT count(*) FROM ((SELECT {columns} FROM {table} EXCEPT SELECT * FROM {kept}) "
                f"UNION ALL (SELECT * FROM {kept} EXCEPT SELECT {columns} FROM {table})) AS d"
            )
        )
    return total


async def count(scratch: Scratch) -> float:
    """The real upkeep's fold over the generated log, a day at a time; returns the seconds it took."""
    from plumbing.db.scope import ALL_PARTNERS, set_scope
    from plumbing.db.session import create_engine, create_sessionmaker, unit_of_work
    from routing.tallies import rebuild, rebuild_agent_time

    set_scope(ALL_PARTNERS)
    engine = create_engine(scratch.database_url)
    sessions = create_sessionmaker(engine)
    began = time.perf_counter()
    day = MONTH_START
    while day < MONTH_END:
        async with unit_of_work(sessions) as session:
            await rebuild(session, tenant=PARTNER, start=day, end=day + timedelta(days=1), agent_time=False)
        day += timedelta(days=1)
    async with unit_of_work(sessions) as session:
        await rebuild_agent_time(session, tenant=PARTNER, start=MONTH_START, end=MONTH_END)
    await engine.dispose()
    return time.perf_counter() - began


def hub_cli(scratch: Scratch, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=scratch.env(owner=True),
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def sql_anchor(scratch: Scratch) -> float:
    """A plain SQL aggregate over the month's events (counts per event), timed by the database."""
    query = (
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT event, count(*), count(DISTINCT enquiry_id) FROM enquiry_events "
        f"WHERE tenant_slug = '{PARTNER}' AND at >= '{MONTH_START.isoformat()}' AND at < '{MONTH_END.isoformat()}' "
        "GROUP BY event"
    )
    import json

    plan = json.loads(scratch.psql(query))
    return float(plan[0]["Execution Time"]) / 1000


def start_serve(scratch: Scratch) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
        env=scratch.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return serve, port


async def measure(scratch: Scratch, runs: int, serve: subprocess.Popen[bytes], port: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    try:
        committee = {"Authorization": f"Bearer {hub_cli(scratch, 'token', 'create', '--role', 'committee')}"}
        agent_token = hub_cli(scratch, "token", "create", "--role", "agent", "--agent", agent(0))
        hub_cli(
            scratch, "users", "create", "--username", "bench-committee", "--role", "committee",
            "--password-stdin", stdin="bench-password-0123\n",
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=base, timeout=300) as client:
            await _serving_and_signed_in(client, client)
            month = f"from={MONTH_START.isoformat()}&to={MONTH_END.isoformat()}".replace("+", "%2B")
            api = f"/api/v1/tenants/{PARTNER}"
            requests = {
                "GET …/metrics (the month)": (f"{api}/metrics?{month}", committee),
                "GET …/figures (the month, by day × service)": (
                    f"{api}/figures?{month}&interval=day&by=service",
                    committee,
                ),
                f"GET …/periods/{MONTH}": (f"{api}/periods/{MONTH}", committee),
                "/committee page": (f"/committee?period={MONTH}", {}),
                "the pack (PDF)": (f"{api}/periods/{MONTH}/pack.pdf", committee),
            }
            timings: dict[str, list[float]] = {name: [] for name in requests}
            for _ in range(runs):
                for name, (url, headers) in requests.items():
                    began = time.perf_counter()
                    r = await client.get(url, headers=headers)
                    timings[name].append(time.perf_counter() - began)
                    assert r.status_code == 200, (name, r.status_code, r.text[:300])
            rss = rss_mib(serve.pid)
            # the agent API while a committee member opens the dashboard and a pack renders
            agent_headers = {"Authorization": f"Bearer {agent_token}"}
            agent_ms: list[float] = []
            heavy = [
                asyncio.create_task(client.get(f"/committee?period={MONTH}")),
                asyncio.create_task(client.get(f"{api}/periods/{MONTH}/pack.pdf", headers=committee)),
            ]
            async with httpx.AsyncClient(base_url=base, timeout=30) as agents:
                while not all(t.done() for t in heavy) or len(agent_ms) < 200:
                    began = time.perf_counter()
                    r = await agents.get(f"/api/v1/agents/{agent(0)}", headers=agent_headers)
                    agent_ms.append((time.perf_counter() - began) * 1000)
                    assert r.status_code == 200, r.text
                    await asyncio.sleep(0.005)
            await asyncio.gather(*heavy)
            rss = max(rss, rss_mib(serve.pid))
    finally:
        serve.terminate()
    ordered = sorted(agent_ms)
    return {
        "timings": {name: statistics.median(values) for name, values in timings.items()},
        "rss_mib": rss,
        "agent_p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "agent_p50_ms": statistics.median(ordered),
        "agent_requests": len(ordered),
    }


def agents_at_work(scratch: Scratch, *, rate: float, seconds: float) -> dict[str, Any]:
    """Accept and complete timed (client side) while the month's agents answer ``rate`` calls a second and a
    committee member keeps opening the dashboard and a pack, one after the other, for the whole run.

    A ``hub worker`` and a fresh ``hub serve`` (warmed with one page and one pack first); the calls, the
    publisher and the agents are ``bench.latency``'s (its first tenth not counted)."""
    from bench.latency import percentile
    from bench.throughput import wait_for_intake

    serve, port = start_serve(scratch)
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker"], env=scratch.env(), stderr=subprocess.DEVNULL
    )
    committee = {"Authorization": f"Bearer {hub_cli(scratch, 'token', 'create', '--role', 'committee')}"}
    try:
        wait_for_intake(scratch.amqp_url)
        figures, reads = asyncio.run(_at_work(scratch, port, committee, rate=rate, seconds=seconds))
    finally:
        for proc in (serve, worker):
            proc.terminate()
        for proc in (serve, worker):
            proc.wait(timeout=30)
    return {
        "rate": rate,
        "calls": len(figures.accept_ms),
        "errors": len(figures.errors),
        "committee_reads": reads,
        **{
            f"{kind}_{name}_ms": percentile(getattr(figures, f"{kind}_ms"), share)
            for kind in ("accept", "complete")
            for name, share in (("p50", 0.5), ("p99", 0.99))
        },
    }


async def _at_work(
    scratch: Scratch, port: int, committee: dict[str, str], *, rate: float, seconds: float
) -> tuple[Any, int]:
    """``agents_at_work``'s run: the agents' figures (``bench.latency.RunFigures``) and the committee's reads."""
    from bench.latency import _one_run, _tokens

    base = f"http://127.0.0.1:{port}"
    api = f"/api/v1/tenants/{PARTNER}"
    tokens = await _tokens(scratch, AGENTS)
    limits = httpx.Limits(max_connections=AGENTS, max_keepalive_connections=AGENTS)
    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client,
        httpx.AsyncClient(base_url=base, timeout=300) as reader,
    ):
        await _serving_and_signed_in(client, reader)
        for agent_id, token in tokens.items():
            r = await client.put(
                f"/api/v1/agents/{agent_id}/status",
                json={"status": "available"},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
        reads = 0

        async def committee_reads(until: asyncio.Event) -> None:
            nonlocal reads
            while True:
                for url, headers in (
                    (f"/committee?period={MONTH}", {}),
                    (f"{api}/periods/{MONTH}/pack.pdf", committee),
                ):
                    r = await reader.get(url, headers=headers)
                    assert r.status_code == 200, (url, r.status_code, r.text[:300])
                    reads += 1
                if until.is_set():
                    return

        warm = asyncio.Event()
        warm.set()
        await committee_reads(warm)  # a page and a pack: the first of each after a start costs more
        reads = 0
        stop = asyncio.Event()
        reading = asyncio.create_task(committee_reads(stop))
        figures = await _one_run(scratch, client, tokens, rate=rate, seconds=seconds, handle_seconds=0.2)
        stop.set()
        await reading
    return figures, reads


def upkeep_switch() -> Any:
    """A switch for the tallies' upkeep on the real write path: ``switch(False)`` makes ``record_events`` count
    nothing (no facts read, nothing written), ``switch(True)`` puts the upkeep back."""
    import routing.events as events_module
    from routing.tallies import Counts

    kept = events_module.fold_events

    async def nothing(*_args: Any, **_kwargs: Any) -> Counts:
        return Counts()

    def switch(on: bool) -> None:
        events_module.fold_events = kept if on else nothing

    return switch


async def intake_cpu(scratch: Scratch, batches: int = 30) -> tuple[float, float]:
    """Median CPU seconds of ``record_events`` for 100 new contacts' received + queued events, with the tallies'
    upkeep and with it switched off (the same database, alternating); the refs carry what intake knows."""
    import hub.models  # noqa: F401  (every table mapped: the ORM flush needs them all)
    from plumbing.db.scope import ALL_PARTNERS, set_scope
    from plumbing.db.session import create_engine, create_sessionmaker, unit_of_work
    from routing.events import EnquiryRef, NewEvent, record_events
    from routing.models import Enquiry
    from tenants.models import Service, Tenant

    set_scope(ALL_PARTNERS)
    engine = create_engine(scratch.database_url)
    sessions = create_sessionmaker(engine)
    switch = upkeep_switch()

    from sqlalchemy import select

    with_tallies: list[float] = []
    without: list[float] = []
    when = datetime(2026, 12, 2, 10, tzinfo=UTC)
    try:
        for batch in range(batches * 2):
            counted = batch % 2 == 0
            switch(counted)
            async with unit_of_work(sessions) as session:
                service = (
                    await session.execute(
                        select(Service.id, Service.code, Service.sl_threshold_seconds).where(
                            Service.tenant_slug == PARTNER
                        )
                    )
                ).first()
                version = await session.scalar(select(Tenant.catalogue_version).where(Tenant.slug == PARTNER))
                assert service is not None
                enquiries = [
                    Enquiry(
                        reference=f"IN-{batch}-{i}",
                        tenant_slug=PARTNER,
                        message_id=f"in-{batch}-{i}",
                        channel="phone",
                        service_id=service[0],
                        service_code=service[1],
                        priority=5,
                        received_at=when,
                        created_at=when,
                        queued_at=when,
                        state="queued",
                        catalogue_version=version,
                    )
                    for i in range(100)
                ]
                session.add_all(enquiries)
                await session.flush()
                new = []
                for e in enquiries:
                    ref = EnquiryRef(
                        e.id,
                        e.reference,
                        PARTNER,
                        e.message_id,
                        e.service_code,
                        e.channel,
                        version,
                        service[2],
                    )
                    new += [NewEvent(ref, "enquiry.received", when), NewEvent(ref, "enquiry.queued", when)]
                began = time.process_time()
                await record_events(session, new)
                (with_tallies if counted else without).append(time.process_time() - began)
    finally:
        switch(True)
        await engine.dispose()
    return statistics.median(with_tallies), statistics.median(without)


def end_to_end_yaml(agents: int) -> str:
    """A partner for the end-to-end intake measure: one service, ``agents`` agents (a fresh batch each round)."""
    lines = [
        f"tenant: {{slug: {INTAKE_PARTNER}, name: Intake County Council}}",
        "opening_hours: {default: always}",
        "services:",
        "  - {code: general, name: General, skills: [general], service_level: {answer_within_seconds: 25}}",
        "agents:",
    ]
    lines += [f"  - {{id: intake-agent-{i:05d}, name: Agent {i}, skills: [general]}}" for i in range(agents)]
    return "\n".join(lines) + "\n"


INTAKE_PARTNER = "intakeshire"


async def end_to_end_cpu(scratch: Scratch, rounds: int = 40, batch: int = 50) -> tuple[float, float, int]:
    """Median CPU seconds per enquiry of the worker's path from intake to offered, with the tallies' upkeep and
    without (alternating rounds, one sitting), and how many rounds each.

    Each round, ``batch`` fresh agents are made available (not timed), then one intake batch of ``batch`` new
    enquiries goes through ``hub.intake.process`` as the worker hands it over: parsed, inserted, routed, its
    received and queued events recorded, placed in the live queue and offered to those agents (``enquiry.offered``
    recorded). Every offer is checked. The CPU is this process's (the hub's, in process: the database's is apart).
    """
    import json
    import uuid

    from hub.runtime import Hub
    from plumbing.bus.base import IncomingMessage
    from plumbing.db.scope import ALL_PARTNERS, set_scope
    from plumbing.settings import Settings

    set_scope(ALL_PARTNERS)
    settings = Settings(
        database_url=scratch.app_database_url,
        migrate_database_url=scratch.database_url,
        redis_url=scratch.redis_url,
        amqp_url=scratch.amqp_url,
        redis_prefix=scratch.redis_prefix,
    )
    hub = await Hub.start(settings, migrate=False)
    switch = upkeep_switch()
    per_enquiry: dict[bool, list[float]] = {True: [], False: []}
    try:
        for r in range(rounds + 2):  # the first two warm the caches (catalogue, statements) and are not kept
            counted = r % 2 == 0
            for i in range(r * batch, (r + 1) * batch):
                await hub.desk.set_status(f"intake-agent-{i:05d}", "available")
            now = datetime.now(UTC).isoformat()
            messages = [
                IncomingMessage(
                    routing_key=f"{INTAKE_PARTNER}.phone",
                    body=json.dumps(
                        {
                            "tenant": INTAKE_PARTNER,
                            "channel": "phone",
                            "received_at": now,
                            "service_code": "general",
                            "text": "My bin was not collected",
                            "customer": {"name": f"Caller {r}-{i}", "phone": f"07700 9{r:02d}{i:03d}"},
                        }
                    ).encode(),
                    message_id=uuid.uuid4().hex,
                    content_type="application/json",
                    type="enquiry.v1",
                )
                for i in range(batch)
            ]
            switch(counted)
            began = time.process_time()
            result = await hub.intake.process(messages)
            spent = time.process_time() - began
            switch(True)
            assert result.accepted == batch, result
            offered = int(
                scratch.psql(
                    "SELECT count(*) FROM enquiries WHERE state = 'offered' AND agent_id >= "
                    f"'intake-agent-{r * batch:05d}' AND agent_id < 'intake-agent-{(r + 1) * batch:05d}'"
                )
            )
            assert offered == batch, (r, offered)
            if r >= 2:
                per_enquiry[counted].append(spent / batch)
    finally:
        switch(True)
        await hub.close()
    return statistics.median(per_enquiry[True]), statistics.median(per_enquiry[False]), rounds // 2


def intake_only(args: argparse.Namespace) -> None:
    """Only the intake measures (``--intake-only``): on scratch services of their own, no month generated."""
    with scratch_services("intake") as scratch:
        prepare(scratch, partner_yaml())
        prepare_partner(scratch, end_to_end_yaml((args.intake_rounds + 2) * args.intake_batch))
        load = Path("/proc/loadavg").read_text().split()[:3]
        cpu = asyncio.run(intake_cpu(scratch))
        e2e = asyncio.run(end_to_end_cpu(scratch, args.intake_rounds, args.intake_batch))
        print(render_intake(cpu, e2e, load))


def prepare_partner(scratch: Scratch, yaml: str) -> None:
    """Load one more partner into a prepared scratch database (as the owner)."""
    path = Path(f"/tmp/{scratch.vhost}-more.yaml")
    path.write_text(yaml)
    subprocess.run(
        [sys.executable, "-m", "hub.cli", "tenants", "load", str(path)],
        env=scratch.env(owner=True),
        check=True,
        capture_output=True,
    )


def render_intake(
    cpu: tuple[float, float] | None, e2e: tuple[float, float, int] | None, load: list[str] | None = None
) -> str:
    lines = []
    if cpu:
        lines.append(
            f"Intake batch of 100 new contacts, `record_events` CPU (median of 30): {cpu[0] * 1000:.2f} ms with the "
            f"tallies' upkeep, {cpu[1] * 1000:.2f} ms without (×{cpu[0] / cpu[1]:.2f})."
        )
    if e2e:
        lines.append(
            f"Worker CPU per enquiry, intake → offered (`hub.intake.process`, medians of {e2e[2]} rounds each, "
            f"alternating): {e2e[0] * 1e6:.0f} µs with the tallies' upkeep, {e2e[1] * 1e6:.0f} µs without "
            f"({(e2e[0] / e2e[1] - 1) * 100:+.1f} %; target within 10 %)."
        )
    if load:
        lines.append(f"Load average at the start: {' '.join(load)}.")
    return "\n\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench/results/figures.md"))
    parser.add_argument("--intake-only", action="store_true", help="only the intake CPU measures (no months)")
    parser.add_argument("--intake-rounds", type=int, default=40)
    parser.add_argument("--intake-batch", type=int, default=50)
    parser.add_argument(
        "--at-work-rate",
        type=float,
        default=20.0,
        help="calls a second the agents answer while the committee reads (accept and complete timed; 0: none)",
    )
    parser.add_argument("--at-work-seconds", type=float, default=20.0)
    parser.add_argument("--month", default=MONTH, help="the month written and read, YYYY-MM (UTC)")
    parser.add_argument(
        "--uncounted",
        action="store_true",
        help="the tallies' 10-s short abandons left NULL (as kept before migration 0020, until a rebuild): "
        "a month under 2027.1 is then read from the event log",
    )
    args = parser.parse_args()
    _set_month(args.month)
    if args.intake_only:
        intake_only(args)
        return
    results: dict[int, dict[str, Any]] = {}
    cpu: tuple[float, float] | None = None
    e2e: tuple[float, float, int] | None = None
    for n in args.sizes:
        with scratch_services(f"fig{n}") as scratch:
            prepare(scratch, partner_yaml())
            began = time.perf_counter()
            # one psql session: the temporary tables live as long as it
            script = ";\n".join(generate_sql(n) + tallies_sql()) + ";"
            url = scratch.database_url.replace("postgresql+asyncpg://", "postgresql://")
            subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input=script, text=True, check=True)
            written = time.perf_counter() - began
            print(f"{n:,} contacts and their tallies: written in {written:.0f}s", flush=True)
            if n == min(args.sizes):
                differing = differences(scratch)
                print(f"set-based tallies against the upkeep's fold: {differing} rows differ", flush=True)
                assert differing == 0
            if args.uncounted:
                scratch.psql("UPDATE figure_tallies SET short_abandoned_10s = NULL; ANALYZE figure_tallies")
            serve, port = start_serve(scratch)
            try:
                result = asyncio.run(measure(scratch, args.runs, serve, port))
            finally:
                serve.terminate()
                serve.wait(timeout=30)
            if args.at_work_rate:
                result["at_work"] = agents_at_work(
                    scratch, rate=args.at_work_rate, seconds=args.at_work_seconds
                )
                print(result["at_work"], flush=True)
            result["sql_anchor_s"] = statistics.median(sql_anchor(scratch) for _ in range(args.runs))
            result["events"] = int(
                scratch.psql(f"SELECT count(*) FROM enquiry_events WHERE tenant_slug = '{PARTNER}'")
            )
            result["tally_rows"] = int(
                scratch.psql(f"SELECT count(*) FROM figure_tallies WHERE tenant_slug = '{PARTNER}'")
            )
            result["written_s"] = written
            print(result, flush=True)
            if cpu is None:
                cpu = asyncio.run(intake_cpu(scratch))
                agents = (args.intake_rounds + 2) * args.intake_batch
                prepare_partner(scratch, end_to_end_yaml(agents))
                e2e = asyncio.run(end_to_end_cpu(scratch, args.intake_rounds, args.intake_batch))
                print(render_intake(cpu, e2e), flush=True)
            results[n] = result
            print(result, flush=True)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(
                render(results, cpu, e2e)
            )  # after each size: a long run leaves what it has
    print(render(results, cpu, e2e))


def render(
    results: dict[int, dict[str, Any]],
    cpu: tuple[float, float] | None,
    e2e: tuple[float, float, int] | None = None,
) -> str:
    sizes = sorted(results)
    head = (
        "| measure | " + " | ".join(f"{n:,} contacts" for n in sizes) + " | growth (first → last) | target |"
    )
    lines = [
        f"Figures benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; medians of 3, shared machine.",
        "",
        head,
        "|" + " --- |" * (len(sizes) + 3),
    ]
    names = list(results[sizes[0]]["timings"])
    targets = {"the pack (PDF)": "≤ 10 s"}
    for name in names:
        values = [results[n]["timings"][name] for n in sizes]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{v * 1000:,.0f} ms" for v in values)
            + f" | ×{values[-1] / values[0]:.1f} | {targets.get(name, '≤ 1 s')} |"
        )
    anchor = [results[n]["sql_anchor_s"] for n in sizes]
    lines.append(
        "| anchor: plain SQL count per event over the month's events | "
        + " | ".join(f"{v * 1000:,.0f} ms" for v in anchor)
        + f" | ×{anchor[-1] / anchor[0]:.1f} | |"
    )
    rss = [results[n]["rss_mib"] for n in sizes]
    lines.append(
        "| `hub serve` resident memory after them | "
        + " | ".join(f"{v:,.0f} MiB" for v in rss)
        + " | | ≤ 300 MB |"
    )
    p99 = [results[n]["agent_p99_ms"] for n in sizes]
    lines.append(
        "| agent API p99 during the committee page + a pack | "
        + " | ".join(f"{v:,.1f} ms" for v in p99)
        + " | | ≤ 20 ms |"
    )
    if all("at_work" in results[n] for n in sizes):
        at_work = [results[n]["at_work"] for n in sizes]
        for kind in ("accept", "complete"):
            lines.append(
                f"| agent API {kind} p50 / p99, agents answering {at_work[0]['rate']:.0f} calls/s while the "
                "committee page and packs are served | "
                + " | ".join(f"{w[f'{kind}_p50_ms']:,.1f} / {w[f'{kind}_p99_ms']:,.1f} ms" for w in at_work)
                + " | | p99 ≤ 20 ms |"
            )
        lines.append(
            "| calls timed; errors; committee pages and packs served meanwhile | "
            + " | ".join(f"{w['calls']:,}; {w['errors']}; {w['committee_reads']}" for w in at_work)
            + " | | |"
        )
    lines.append(
        "| events in the month | " + " | ".join(f"{results[n]['events']:,}" for n in sizes) + " | | |"
    )
    lines.append(
        "| tally rows in the month | " + " | ".join(f"{results[n]['tally_rows']:,}" for n in sizes) + " | | |"
    )
    lines.append(
        "| writing the month (events and tallies, set-based SQL) | "
        + " | ".join(f"{results[n]['written_s']:,.0f} s" for n in sizes)
        + " | | |"
    )
    if cpu or e2e:
        lines += ["", render_intake(cpu, e2e)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
