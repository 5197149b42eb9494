"""``hub demo``: the whole hub in one process on the embedded default, with simulated partners and agents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.text import Text
from sqlalchemy import func, or_, select

from backoffice.models import DELIVERED, BackofficeDelivery, Case
from backoffice.outbox import RetryPolicy
from backoffice.runner import DeliveryRunner
from hub.accounts.service import create_user
from hub.api.app import create_app
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from plumbing.logging import configure_logging
from plumbing.settings import Settings
from routing.dispatch.desk import DeskError
from routing.models import Enquiry, EnquiryEvent, IntakeRejection
from routing.states import EventName
from tenants.agreements.loader import load_agreement_files, load_data_sharing_files
from tenants.agreements.service import put_agreements
from tenants.agreements.sharing_service import put_data_sharing
from tenants.catalogue import ServiceInfo
from tenants.loader import load_definitions
from tenants.schemas import AdapterSpec, PartnerDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token

log = structlog.get_logger(__name__)

# Agents left for a person to drive from the console (or the API); the rest are simulated.
HUMAN_AGENTS = ("chorley-ann",)
# People who sign in to the web app: (username, role, partner, agent). Passwords are new every run.
DEMO_USERS = (
    ("chorley-ann", "agent", None, "chorley-ann"),
    ("chorley-supervisor", "supervisor", "chorley", None),
    ("committee", "committee", None, None),
)
# A few residents per partner who call again and again, so the console has a history to show.
RESIDENTS: tuple[tuple[dict[str, str], dict[str, object]], ...] = (
    (
        {
            "name": "Pat Resident",
            "phone": "01257 515151",
            "uprn": "100010380001",
            "address": "1 Market Street",
        },
        {},
    ),
    (
        {
            "name": "Jo Citizen",
            "email": "jo.citizen@example.org",
            "uprn": "100010380003",
            "address": "3 Fazakerley Street",
        },
        {"garden_waste_renewal": "unpaid"},
    ),
    (
        {"name": "Sam Ratepayer", "phone": "07700 900123", "email": "sam@example.org"},
        {"council_tax_arrears": True},
    ),
    (
        {
            "name": "Alex Tenant",
            "phone": "07700 900456",
            "uprn": "100010380007",
            "address": "7 Chapel Street",
        },
        {},
    ),
    ({"name": "Ruth Walker", "phone": "+44 1772 625625", "address": "12 Station Road"}, {}),
)
SAMPLE_TEXTS = {
    "missed-bin": "My grey bin was not collected on Tuesday",
    "council-tax": "I have moved house and need to update my council tax",
    "flytipping": "Someone has dumped a mattress in the lane behind the shops",
    "housing-benefit": "I would like to claim housing benefit",
    "parking-permit": "How do I renew my residents parking permit?",
    "street-lighting": "The street light outside number 12 is flickering",
    "pothole": "There is a deep pothole on Station Road",
    "general": "I need some help with a council service",
    "bulky-waste": "Can you collect an old sofa and a fridge?",
    "dog-fouling": "There is dog mess all over the path by the school",
    "garden-waste": "I want to renew my garden waste subscription",
    "graffiti": "Someone has sprayed graffiti on the bus shelter",
    "drains": "The road is flooded because the drain is blocked",
    "blue-badge": "How do I renew my blue badge?",
}


def _free_port(preferred: int) -> int:
    for port in (preferred, *range(preferred + 1, preferred + 50)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port between {preferred} and {preferred + 49}")


def _answers(service: ServiceInfo) -> dict[str, object]:
    """Plausible answers to a service's required questions, so the simulated partners are not rejected."""
    answers: dict[str, object] = {}
    for attribute in service.spec.attributes if service.spec else []:
        if not attribute.required:
            continue
        if attribute.values:
            first = attribute.values[0].key
            answers[attribute.code] = [first] if attribute.datatype == "multivaluelist" else first
        else:
            answers[attribute.code] = "1" if attribute.datatype == "number" else "demo"
    return answers


def _enquiry_message(tenant: str, service: ServiceInfo) -> IncomingMessage:
    customer, attributes = random.choice(RESIDENTS)
    channel = random.choices(["phone", "web", "email"], weights=[6, 3, 1])[0]
    # One in four arrives as free text only, to be classified by the catalogue's keywords.
    classify = random.random() < 0.25
    body = {
        "tenant": tenant,
        "channel": channel,
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": None if classify else service.code,
        "text": SAMPLE_TEXTS.get(service.code, "An enquiry"),
        "attributes": {**_answers(service), **attributes},
        "customer": customer,
    }
    if channel == "phone":
        caller = customer.get("phone", "withheld")
        body["call"] = {"call_id": uuid.uuid4().hex, "caller": caller, "dialled": "0300 123 4567"}
    return IncomingMessage(
        routing_key=f"{tenant}.{channel}",
        body=json.dumps(body).encode(),
        message_id=uuid.uuid4().hex,
        content_type="application/json",
        type="enquiry.v1",
    )


async def _traffic(hub: Hub, rate: float) -> None:
    """Poisson arrivals across the partners' services; one in fifteen callers hangs up while waiting."""
    assert hub.memory_bus is not None
    catalogue = await hub.catalogue.reload()
    services = [
        (t.slug, service)
        for t in catalogue.tenants.values()
        if t.kind == "partner"
        for service in t.services.values()
    ]
    while True:
        await asyncio.sleep(random.expovariate(rate))
        tenant, service = random.choice(services)
        message = _enquiry_message(tenant, service)
        await hub.memory_bus.intake.put(message)
        if random.random() < 1 / 15:
            asyncio.get_running_loop().call_later(random.uniform(2, 20), _hang_up, hub, message, tenant)
        if random.random() < 1 / 40:  # a partner system's mistake, to show the dead-letter path
            bad = IncomingMessage(
                routing_key=f"{tenant}.phone",
                body=b"{not json",
                message_id=uuid.uuid4().hex,
                content_type="application/json",
                type="enquiry.v1",
            )
            await hub.memory_bus.intake.put(bad)


def _hang_up(hub: Hub, message: IncomingMessage, tenant: str) -> None:
    assert hub.memory_bus is not None
    body = {
        "tenant": tenant,
        "message_id": message.message_id,
        "reason": "caller_hung_up",
        "at": datetime.now(UTC).isoformat(),
    }
    hub.memory_bus.intake.put_nowait(
        IncomingMessage(
            routing_key=message.routing_key,
            body=json.dumps(body).encode(),
            message_id=uuid.uuid4().hex,
            content_type="application/json",
            type="enquiry.withdrawn.v1",
        )
    )


async def _simulated_agent(hub: Hub, agent_id: str) -> None:
    """Go available, accept offers after a ring, talk a while, complete, sometimes take a break."""
    desk = hub.desk
    await desk.set_status(agent_id, "available")
    while True:
        await asyncio.sleep(0.5)
        offer = await desk.current_offer(agent_id)
        if offer is None:
            continue
        await asyncio.sleep(random.uniform(0.3, 1.5))
        try:
            await desk.accept(agent_id, offer.enquiry_id)
            await asyncio.sleep(random.uniform(3, 9))
            outcome = random.choices(
                ["resolved", "passed_to_back_office", "callback_booked"], weights=[7, 2, 1]
            )[0]
            await desk.complete(agent_id, offer.enquiry_id, outcome)
        except DeskError as exc:
            log.info("demo.agent_refused", agent_id=agent_id, error=exc.code)


def _with_csv_back_offices(definitions: list[PartnerDefinition], folder: Path) -> list[PartnerDefinition]:
    """Every service drops its cases as CSV files, one folder per partner: the demo has no real back offices
    (the examples name webhooks, Open311 servers and mailboxes whose addresses come from the environment)."""
    out = []
    for definition in definitions:
        services = [
            service.model_copy(
                update={
                    "adapter": AdapterSpec(
                        name="csv_drop",
                        config={
                            "folder": str((folder / definition.tenant.slug).resolve()),
                            "create_folder": True,
                        },
                    )
                }
            )
            for service in definition.services
        ]
        out.append(definition.model_copy(update={"services": services}))
    return out


# A back office works through its cases: each step is sent back as enquiry.update.v1, as a partner would.
_NEXT_STATUS = {
    None: "received",
    "received": "in_progress",
    "in_progress": "scheduled",
    "scheduled": "resolved",
}
_NOTES = {
    "received": "Thank you, we have your request.",
    "in_progress": "An officer is looking into this.",
    "scheduled": "A visit is booked.",
    "resolved": "Done. Thank you for letting us know.",
}


async def _simulated_back_offices(hub: Hub, console: Console, base: str) -> None:
    assert hub.memory_bus is not None
    shown = False
    while True:
        await asyncio.sleep(2)
        async with hub.sessionmaker() as session:
            cases = (
                await session.execute(
                    select(Enquiry.reference, Enquiry.tenant_slug, Case.status)
                    .join(Case, Case.enquiry_id == Enquiry.id)
                    .join(BackofficeDelivery, BackofficeDelivery.enquiry_id == Enquiry.id)
                    .where(
                        BackofficeDelivery.status == DELIVERED,
                        or_(Case.status.is_(None), Case.status != "resolved"),
                    )
                )
            ).all()
        for reference, tenant, status in cases:
            if not shown:
                console.print(
                    f"A case passed to a back office: track it at [link]{base}/track/{reference}[/link]"
                )
                shown = True
            if random.random() > 0.3:
                continue
            new = _NEXT_STATUS.get(status)
            if new is None:
                continue
            body = {
                "tenant": tenant,
                "reference": reference,
                "status": new,
                "notes": _NOTES[new],
                "at": datetime.now(UTC).isoformat(),
            }
            if new == "scheduled":
                body["expected_date"] = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
            await hub.memory_bus.intake.put(
                IncomingMessage(
                    routing_key=f"{tenant}.update",
                    body=json.dumps(body).encode(),
                    message_id=uuid.uuid4().hex,
                    content_type="application/json",
                    type="enquiry.update.v1",
                )
            )


async def _counts(hub: Hub) -> Text:
    async with hub.sessionmaker() as session:
        by_state = dict(
            (await session.execute(select(Enquiry.state, func.count()).group_by(Enquiry.state)))
            .tuples()
            .all()
        )
        rejected = await session.scalar(select(func.count()).select_from(IntakeRejection))
        overflowed = await session.scalar(
            select(func.count()).select_from(EnquiryEvent).where(EnquiryEvent.event == EventName.OVERFLOWED)
        )
        delivered = await session.scalar(
            select(func.count()).select_from(BackofficeDelivery).where(BackofficeDelivery.status == DELIVERED)
        )
    depths = await hub.live.queue_depths()
    waiting = sum(depths.values())
    line = Text()
    line.append(f"{datetime.now().strftime('%H:%M:%S')}  ", style="dim")
    for label, value, style in (
        ("waiting", waiting, "yellow"),
        ("offered", by_state.get("offered", 0), "cyan"),
        ("talking", by_state.get("answered", 0), "green"),
        ("completed", by_state.get("completed", 0), "bold green"),
        ("abandoned", by_state.get("abandoned", 0), "red"),
        ("rejected", rejected or 0, "magenta"),
        ("overflowed", overflowed or 0, "blue"),
        ("to back office", delivered or 0, "magenta"),
    ):
        line.append(f"{label} ", style="dim")
        line.append(f"{value:<4}", style=style)
    return line


async def run_demo(
    *, port: int, rate: float, seconds: float | None, examples: Path, real_hours: bool = False
) -> None:
    console = Console()
    # Piped or redirected: lines as long as they are (an api_key is never split at column 80).
    console.soft_wrap = not console.is_terminal
    configure_logging("WARNING", json=False)
    data_dir = Path(".hub") / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    for leftover in [*data_dir.glob("hub.sqlite3*"), *data_dir.glob("backoffice/*/*.csv")]:
        leftover.unlink()  # every demo starts from the example partners, not yesterday's calls
    settings = Settings(
        database_url=None,
        redis_url=None,
        amqp_url=None,
        data_dir=data_dir,
        reservation_timeout_seconds=15,
        ignore_opening_hours=not real_hours,
    )
    hub = await Hub.start(settings)
    definitions = _with_csv_back_offices(load_definitions(examples), data_dir / "backoffice")
    agreements, labels = load_agreement_files(examples)
    sharing, sharing_labels = load_data_sharing_files(examples)
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=definitions)
        await put_agreements(session, agreements=agreements, partners=definitions, labels=labels)
        await put_data_sharing(session, agreements=sharing, partners=definitions, labels=sharing_labels)
        supervisor = await create_token(session, role="supervisor", tenant="chorley", label="demo")
        open311_key = await create_token(session, role="open311", tenant="chorley", label="demo")
        agent_tokens = {
            a: await create_token(session, role="agent", agent_id=a, label="demo") for a in HUMAN_AGENTS
        }
        passwords = {}
        for username, role, tenant, agent_id in DEMO_USERS:
            passwords[username] = secrets.token_urlsafe(9)
            await create_user(
                session,
                username=username,
                password=passwords[username],
                role=role,
                tenant=tenant,
                agent_id=agent_id,
            )
    await hub.catalogue.reload()

    port = _free_port(port)
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    worker = Worker(hub)
    runner = DeliveryRunner(hub.sessionmaker, policy=RetryPolicy(base_seconds=1.0, cap_seconds=30.0))
    runner_stop = asyncio.Event()
    agents = [a.id for d in definitions for a in d.agents if a.id not in HUMAN_AGENTS]
    tasks = [
        asyncio.create_task(server.serve()),
        asyncio.create_task(worker.run()),
        asyncio.create_task(runner.run(runner_stop)),
        asyncio.create_task(_traffic(hub, rate)),
        *(asyncio.create_task(_simulated_agent(hub, a)) for a in agents),
    ]
    base = f"http://127.0.0.1:{port}"
    # The address is printed once it answers: someone opening it at once must not be refused.
    while not server.started:
        if tasks[0].done():
            tasks[0].result()  # the server could not start (its error says why)
            raise RuntimeError(f"the web server stopped before it listened on port {port}")
        await asyncio.sleep(0.05)
    tasks.append(asyncio.create_task(_simulated_back_offices(hub, console, base)))
    console.print(
        f"[bold]Shared contact-centre hub[/] — demo on the embedded default ({len(definitions)} partners, "
        f"{len(agents)} simulated agents, ~{rate:g} enquiries/s, {len(agreements)} overflow agreements)"
    )
    console.print(f"Sign in at [link={base}/]{base}/[/link] (new passwords every run):")
    hints = {
        "agent": "press Available, take a live call",
        "supervisor": "Chorley's live floor",
        "committee": "today's figures",
    }
    for username, role, _tenant, _agent in DEMO_USERS:
        console.print(f"  [bold]{username:<19}[/] [cyan]{passwords[username]}[/]  {role}: {hints[role]}")
    console.print(f"Open [link={base}/docs]{base}/docs[/link] (the API; click Authorize and paste a token).")
    console.print(f"  supervisor (chorley): [cyan]{supervisor}[/]")
    console.print(
        f"Open311: {base}/open311/v2/services.xml?jurisdiction_id=chorley  (api_key: [cyan]{open311_key}[/])"
    )
    for agent_id, token in agent_tokens.items():
        console.print(f"  agent {agent_id}:  [cyan]{token}[/]  (not simulated: go available and take a call)")
    if not real_hours:
        console.print(
            "[dim]Opening hours are ignored so that calls flow at any time of day (--real-hours honours them).[/]"
        )
    console.print("Ctrl-C to stop.\n")
    try:
        with Live(await _counts(hub), console=console, refresh_per_second=2, transient=False) as live:
            started = asyncio.get_running_loop().time()
            while seconds is None or asyncio.get_running_loop().time() - started < seconds:
                await asyncio.sleep(0.5)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                live.update(await _counts(hub))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        server.should_exit = True
        worker.stop.set()
        runner_stop.set()
        for task in tasks[3:]:
            task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
        final = await _counts(hub)
        await runner.close()
        await hub.close()
        if not console.is_terminal:
            console.line()  # a live display off a terminal leaves its last line open
        console.print(Text("demo stopped: ").append(final))
