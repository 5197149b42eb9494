"""Customer matching (at intake, in batches), what another partner's agent may see, and proactive prompts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from routing.customers.keys import keys_of, normalise_email, normalise_phone, normalise_uprn
from routing.customers.models import Customer
from routing.customers.prompts import DEFAULT_RULES, facts_from, proactive_prompts, rules_for
from routing.customers.service import PastContact
from routing.customers.visibility import CUSTOMER_FIELDS, visible_customer_fields
from routing.models import Enquiry
from tests.helpers_intake import delivery

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_keys_are_normalised_so_the_same_person_matches() -> None:
    assert (
        normalise_phone("01257 515151")
        == normalise_phone("+44 (0)1257-515151".replace("(0)", ""))
        == "01257515151"
    )
    assert normalise_phone("0044 1257 515151") == "01257515151"
    assert normalise_phone("999") is None and normalise_phone(None) is None and normalise_phone(7) is None
    assert normalise_email("  Pat@Example.ORG ") == "pat@example.org"
    assert normalise_email("not an email") is None and normalise_email("a@b") is None
    assert normalise_uprn("000100010380000") == normalise_uprn(100010380000) == "100010380000"
    assert normalise_uprn("12-34") is None and normalise_uprn("1" * 13) is None
    keys = keys_of({"name": "Pat", "phone": "n/a", "email": "PAT@example.org"})
    assert (keys.phone, keys.email, keys.name, keys.any) == (None, "pat@example.org", "Pat", True)
    assert not keys_of({"name": "Anonymous"}).any and not keys_of(None).any


def test_an_owners_agent_sees_everything_and_a_handler_only_what_the_agreement_allows() -> None:
    assert visible_customer_fields("chorley", "chorley", None) == CUSTOMER_FIELDS
    assert visible_customer_fields("chorley", "hub", frozenset({"name"})) == {"name"}
    assert visible_customer_fields("chorley", "hub", {"name", "uprn", "bank_details"}) == {"name", "uprn"}
    assert visible_customer_fields("chorley", "hub", None) == frozenset()
    assert visible_customer_fields("chorley", "hub", set()) == frozenset()


def _past(
    service: str, days_ago: float, *, state: str = "completed", outcome: str | None = "resolved", **attrs: Any
) -> PastContact:
    return PastContact(
        enquiry_id=int(days_ago * 10) + 1,
        reference=f"REF-{service}-{days_ago}",
        owner="chorley",
        service_code=service,
        channel="phone",
        state=state,
        outcome=outcome,
        received_at=NOW - timedelta(days=days_ago),
        text=None,
        attributes=attrs,
    )


def test_prompts_come_from_rules_over_what_is_held() -> None:
    history = [
        _past("garden-waste", 30, garden_waste_renewal="unpaid"),
        _past("missed-bin", 20),
        _past("missed-bin", 60),
        _past("missed-bin", 200),  # too long ago to count as a repeat
        _past("council-tax", 3, outcome="passed_to_back_office"),
        _past("garden-waste", 1, garden_waste_renewal="paid"),
    ]

    def rules_hit(
        service: str, text: str | None, past: list[PastContact], current: dict[str, Any] | None = None
    ) -> list[str]:
        prompts = proactive_prompts(
            DEFAULT_RULES,
            service_code=service,
            text=text,
            facts=facts_from(past, current),
            history=past,
            now=NOW,
        )
        return [p.rule for p in prompts]

    # The newest fact wins (renewal since paid); one open case; two earlier missed bins within 90 days.
    assert rules_hit("missed-bin", None, history) == ["open-case", "repeat-missed-bin"]
    assert rules_hit("missed-bin", None, history[:5]) == [
        "open-case",
        "garden-waste-unpaid",
        "repeat-missed-bin",
    ]
    assert rules_hit("missed-bin", None, [history[1], history[3]]) == []
    assert rules_hit("council-tax", "I have moved house", []) == ["moving-house"]
    assert rules_hit("general", None, [], {"council_tax_arrears": True}) == ["council-tax-arrears"]
    open_case = proactive_prompts(
        DEFAULT_RULES,
        service_code="general",
        text=None,
        facts={},
        history=history,
        now=NOW,
        service_names={"council-tax": "Council Tax account enquiries"},
    )
    assert open_case[0].text.startswith(
        "Open case REF-council-tax-3 (Council Tax account enquiries, 27 Feb 2026)"
    )
    custom = [
        {"id": "x", "when": {"services": ["pothole"]}, "say": "Ask for the {nearest} lamp post number."}
    ]
    assert [
        p.text
        for p in proactive_prompts(custom, service_code="pothole", text=None, facts={}, history=[], now=NOW)
    ] == ["Ask for the  lamp post number."]


def test_a_services_own_prompt_rules_follow_the_hubs_and_only_rules_count() -> None:
    own = {"id": "lamp", "when": {"services": ["pothole"]}, "say": "Ask for the lamp post number."}
    assert rules_for({"prompts": [own, "not a rule", 7]}) == [*DEFAULT_RULES, own]
    assert rules_for({"name": "Potholes"}) == list(DEFAULT_RULES)  # a service that adds none
    assert rules_for(None) == list(DEFAULT_RULES)  # no service at all


def _message(tenant: str, customer: dict[str, Any]) -> IncomingMessage:
    body = {
        "tenant": tenant,
        "channel": "web",
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": "general",
        "customer": customer,
    }
    return delivery(f"{tenant}.web", body)


async def test_intake_links_a_batch_to_customers_with_one_select_and_one_insert(
    hub: Hub, make_partner
) -> None:
    mine, theirs = await make_partner(agents=0), await make_partner(agents=0)
    await hub.intake.process([_message(mine.slug, {"name": "Pat", "email": "pat@example.org"})])

    batch = [
        _message(
            mine.slug, {"name": "Pat", "email": "PAT@example.org", "phone": "07700 900001"}
        ),  # known by email
        _message(mine.slug, {"name": "Sam", "phone": "07700 900002"}),  # new
        _message(mine.slug, {"name": "Sam again", "phone": "+44 7700 900002"}),  # the same new person
        _message(mine.slug, {"name": "Lee", "uprn": "100010380099"}),  # new
        _message(mine.slug, {"name": "Anonymous"}),  # nothing to match on
        _message(theirs.slug, {"name": "Pat", "email": "pat@example.org"}),  # another partner's record
        *(_message(mine.slug, {"phone": f"07700 91{i:04d}"}) for i in range(40)),
    ]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "customers" in statement:
            statements.append(statement.split()[0].upper())

    event.listen(hub.engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await hub.intake.process(batch)
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", count)
    assert result.accepted == len(batch)
    assert sorted(statements) == ["INSERT", "SELECT"], statements

    async with hub.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Enquiry.message_id, Enquiry.customer_id, Enquiry.tenant_slug).where(
                    Enquiry.message_id.in_([m.message_id for m in batch])
                )
            )
        ).all()
        first = await session.scalar(
            select(Customer.id).where(Customer.tenant_slug == mine.slug, Customer.email == "pat@example.org")
        )
    by_message = {m: c for m, c, _t in rows}
    ids = [by_message[m.message_id] for m in batch]
    assert ids[0] == first
    assert ids[1] == ids[2] and ids[1] not in (None, first)
    assert ids[3] is not None and ids[3] not in (ids[0], ids[1])
    assert ids[4] is None
    assert ids[5] is not None and ids[5] != first
    assert len(set(ids[6:])) == 40

    # A redelivered message makes no second customer.
    again = await hub.intake.process([batch[1]])
    assert again.duplicates == 1
    async with hub.sessionmaker() as session:
        sams = (await session.scalars(select(Customer.id).where(Customer.phone == "07700900002"))).all()
    assert len(sams) == 1
