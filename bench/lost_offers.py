"""Benchmark: the lost-offer check against the number of offers held.

    python -m bench.lost_offers [--held 0,1000,10000,100000] [--sweeps 21]

The worker runs ``Dispatcher.recover_lost_offers`` every 5 s. It used to read every enquiry on offer and ask the
live state about each (its cost grew with the offers held: ~0.65 s with 10,000); it now reads only offers whose
expiry passed long ago, through a partial index over the rows on offer. This fills a scratch database with
``held`` enquiries on offer (not yet expired, shaped as ``Dispatcher.record_offers`` writes them) and times the
sweep, median of ``sweeps``, beside the scan it replaced (every row on offer read, as before, without the live
state's lookups): the sweep should stay flat while the scan grows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._services import machine, scratch_services  # noqa: E402


def _fill(scratch_psql, held: int) -> None:  # type: ignore[no-untyped-def]
    """Make the database hold exactly ``held`` enquiries on offer, expiring a minute from now."""
    scratch_psql("DELETE FROM enquiries WHERE message_id LIKE 'bench-%'")
    if held:
        scratch_psql(
            f"""
            INSERT INTO enquiries (reference, tenant_slug, message_id, channel, service_id, service_code,
                priority, received_at, created_at, queued_at, state, customer, attributes, offered_until)
            SELECT 'BENCH-' || n, s.tenant_slug, 'bench-' || n, 'phone', s.id, s.code, 5, now(), now(), now(),
                'offered', '{{}}', '{{}}', now() + interval '1 minute'
            FROM generate_series(1, {held}) AS n,
                (SELECT id, tenant_slug, code FROM services WHERE tenant_slug = 'chorley' LIMIT 1) AS s
            """
        )
    scratch_psql("ANALYZE enquiries")


async def _measure(database_url: str, redis_url: str, prefix: str, sweeps: int) -> tuple[float, float]:
    from sqlalchemy import select

    from plumbing.db.base import table_of
    from plumbing.db.session import create_engine, create_sessionmaker
    from routing.dispatch.service import Dispatcher
    from routing.live.redis_state import RedisLiveState
    from routing.models import Enquiry
    from tenants.catalogue import CatalogueCache

    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    live = RedisLiveState.from_url(redis_url, prefix)
    dispatcher = Dispatcher(sessionmaker, live, CatalogueCache(sessionmaker))
    enquiries = table_of(Enquiry)
    sweep, scan = [], []
    try:
        for _ in range(sweeps):
            started = time.perf_counter()
            await dispatcher.recover_lost_offers()
            sweep.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with sessionmaker() as session:
                await session.execute(
                    select(enquiries.c.id, enquiries.c.agent_id).where(enquiries.c.state == "offered")
                )
            scan.append(time.perf_counter() - started)
    finally:
        await live.close()
        await engine.dispose()
    return statistics.median(sweep) * 1000, statistics.median(scan) * 1000


def measure(helds: list[int], sweeps: int) -> list[tuple[int, float, float]]:
    """Per number of offers held: the sweep's and the old scan's median times (ms), each printed as measured."""
    rows = []
    with scratch_services("lost_offers") as scratch:
        env = scratch.env(owner=True)
        subprocess.run([sys.executable, "-m", "hub.cli", "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [sys.executable, "-m", "hub.cli", "tenants", "load", str(ROOT / "deploy" / "examples")],
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"{'offers held':>12} | {'sweep, median ms':>16} | {'full scan it replaced, ms':>25} | ratio")
        for held in helds:
            _fill(scratch.psql, held)
            sweep_ms, scan_ms = asyncio.run(
                _measure(scratch.database_url, scratch.redis_url, scratch.redis_prefix, sweeps)
            )
            rows.append((held, sweep_ms, scan_ms))
            print(
                f"{held:>12,} | {sweep_ms:>16.2f} | {scan_ms:>25.2f} | {sweep_ms / rows[0][1]:.2f}× the first",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held", default="0,1000,10000,100000", help="offers held, comma-separated")
    parser.add_argument("--sweeps", type=int, default=21)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    measure([int(h) for h in args.held.split(",")], args.sweeps)
    print("target: the sweep flat with offers held (issue 23)")


if __name__ == "__main__":
    main()
