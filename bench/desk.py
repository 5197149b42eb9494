"""The agent desk in process: CPU, wall time and statements per accept and per complete, two ways alternated.

    .venv/bin/python -m bench.desk [--calls 300] [--agents 20]

On a scratch database (as the application role, so row-level security is part of it) and Redis prefix, one hub
in this process: each call arrives through intake, is offered to an idle agent, accepted and completed. Calls
alternate between the general path (``AgentDesk.one_statement`` off: the path SQLite takes) and the two
statements (routing/dispatch/desk_queries.py), so both see the same machine at the same moment. Printed: the
median CPU (``time.process_time``) and wall time of each, and the statements each sends (besides BEGIN and
COMMIT, which both send).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bench._services import machine, scratch_services
from bench.latency import agent_id, partner_yaml
from bench.throughput import PARTNER, prepare


async def _run(
    database_url: str, redis_url: str, prefix: str, amqp_url: str, calls: int, agents: int
) -> None:
    from sqlalchemy import event, select

    from hub.runtime import Hub
    from plumbing.bus.base import IncomingMessage
    from plumbing.db.scope import tenant_scope
    from plumbing.settings import Settings
    from routing.models import Enquiry

    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        amqp_url=amqp_url,
        log_level="WARNING",
    )
    with tenant_scope("*"):
        hub = await Hub.start(settings, migrate=False)
        await hub.live.reset()
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(hub.engine.sync_engine, "before_cursor_execute", count)
        figures: dict[tuple[bool, str], list[tuple[float, float, int]]] = defaultdict(list)
        try:
            for i in range(agents):
                await hub.desk.set_status(agent_id(i), "available")
            for call in range(calls * 2 + 20):
                message_id = uuid.uuid4().hex
                body = {
                    "tenant": PARTNER,
                    "channel": "phone",
                    "received_at": datetime.now(UTC).isoformat(),
                    "service_code": "missed-bin",
                }
                await hub.intake.process(
                    [
                        IncomingMessage(
                            f"{PARTNER}.phone", json.dumps(body).encode(), message_id, type="enquiry.v1"
                        )
                    ]
                )
                async with hub.sessionmaker() as session:
                    enquiry_id, agent = (
                        await session.execute(
                            select(Enquiry.id, Enquiry.agent_id).where(Enquiry.message_id == message_id)
                        )
                    ).one()
                one_statement = call % 2 == 1
                hub.desk.one_statement = one_statement
                for step in ("accept", "complete"):
                    statements = 0
                    cpu, wall = time.process_time(), time.perf_counter()
                    if step == "accept":
                        await hub.desk.accept(agent, enquiry_id)
                    else:
                        await hub.desk.complete(agent, enquiry_id, "resolved")
                    sample = (time.process_time() - cpu, time.perf_counter() - wall, statements)
                    if call >= 20:  # the first twenty warm the caches and connections
                        figures[(one_statement, step)].append(sample)
        finally:
            event.remove(hub.engine.sync_engine, "before_cursor_execute", count)
            await hub.close()
    for step in ("accept", "complete"):
        for one_statement in (False, True):
            samples = figures[(one_statement, step)]
            print(
                f"{step:8} {'two statements' if one_statement else 'general path':15} "
                f"CPU median {statistics.median(s[0] for s in samples) * 1e6:7,.0f} µs, "
                f"wall median {statistics.median(s[1] for s in samples) * 1e3:6.2f} ms, "
                f"statements {statistics.median(s[2] for s in samples):.0f} ({len(samples)} calls)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="calls each way")
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    with scratch_services("desk") as scratch:
        prepare(scratch, partner_yaml(args.agents))
        asyncio.run(
            _run(
                scratch.app_database_url,
                scratch.redis_url,
                scratch.redis_prefix,
                scratch.amqp_url,
                args.calls,
                args.agents,
            )
        )
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
