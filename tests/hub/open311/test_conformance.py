"""Open311 GeoReport v2 conformance, in XML and JSON, for every example partner: what a third-party client does.

A client lists a partner's services, reads a definition, posts a request with attributes and reads its status
back; every bad input gets the standard's error form and status, and creates nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import func, select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.georeport import ITEM_TAGS
from routing.models import Enquiry, EnquiryEvent, IntakeRejection
from tenants.hours import resolution_due
from tenants.schemas import PartnerDefinition, ServiceDefinition
from tenants.tokens import create_token
from tests.helpers_examples import PARTNER_EXAMPLES, load_example

FORMATS = ("xml", "json")


def _from_xml(element: ET.Element) -> Any:
    children = list(element)
    item = ITEM_TAGS.get(element.tag)
    if item is not None and all(c.tag == item for c in children):
        return [_from_xml(c) for c in children]
    if not children:
        return element.text or ""
    return {c.tag: _from_xml(c) for c in children}


class Client:
    """A GeoReport v2 client speaking one format, as a third-party integrator's would."""

    def __init__(self, api: httpx.AsyncClient, fmt: str) -> None:
        self.api, self.fmt = api, fmt

    def _read(self, response: httpx.Response) -> tuple[int, str, Any]:
        assert response.headers["content-type"].startswith(
            "text/xml" if self.fmt == "xml" else "application/json"
        )
        if self.fmt == "json":
            data = response.json()
            return response.status_code, "errors" if response.status_code >= 400 else "", data
        root = ET.fromstring(response.content)
        return response.status_code, root.tag, _from_xml(root)

    async def get(self, path: str, **params: str) -> tuple[int, str, Any]:
        return self._read(await self.api.get(f"/open311/v2/{path}.{self.fmt}", params=params))

    async def post(
        self, path: str, *, query: dict[str, str] | None = None, data: dict[str, Any] | None = None
    ) -> tuple[int, str, Any]:
        return self._read(
            await self.api.post(f"/open311/v2/{path}.{self.fmt}", params=query or {}, data=data)
        )


def flag(value: Any) -> bool:
    return value if isinstance(value, bool) else value == "true"


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), f"{value!r} should be UTC with its zone"
    return datetime.fromisoformat(value)


async def _key(hub: Hub, slug: str) -> str:
    async with unit_of_work(hub.sessionmaker) as session:
        return await create_token(session, role="open311", tenant=slug, label="test")


def _askable(definition: PartnerDefinition) -> ServiceDefinition:
    """A service offered to Open311 with a required question whose answer is a choice from a list."""
    return next(
        s for s in definition.services if s.open311 and any(a.required and a.values for a in s.attributes)
    )


def _answers(service: ServiceDefinition) -> dict[str, Any]:
    """Form fields answering every question; a multivaluelist as repeated ``attribute[code][]`` fields."""
    form: dict[str, Any] = {}
    for attribute in service.attributes:
        if not attribute.variable:
            continue
        if attribute.datatype == "multivaluelist":
            form[f"attribute[{attribute.code}][]"] = [v.key for v in attribute.values[:2]]
        elif attribute.values:
            form[f"attribute[{attribute.code}]"] = attribute.values[-1].key
        elif attribute.datatype == "number":
            form[f"attribute[{attribute.code}]"] = "3"
        elif attribute.datatype == "datetime":
            form[f"attribute[{attribute.code}]"] = "2026-11-20T07:00:00Z"
        else:
            form[f"attribute[{attribute.code}]"] = "LP-1234"
    return form


def _good_form(service: ServiceDefinition) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "lat": "53.6531",
        "long": "-2.6326",
        "description": f"Reported by a resident: {service.name.lower()}",
        "first_name": "Pat",
        "last_name": "Resident",
        "email": "pat@example.org",
        "phone": "",
        "device_id": "",
        "account_id": "",
        "address_id": "",
        "media_url": "",
        **_answers(service),
    }


async def _rows(hub: Hub, slug: str) -> tuple[int, int]:
    async with hub.sessionmaker() as session:
        enquiries = await session.scalar(
            select(func.count()).select_from(Enquiry).where(Enquiry.tenant_slug == slug)
        )
        rejections = await session.scalar(
            select(func.count()).select_from(IntakeRejection).where(IntakeRejection.claimed_tenant == slug)
        )
    return int(enquiries or 0), int(rejections or 0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", PARTNER_EXAMPLES)
async def test_list_read_post_and_read_back(hub: Hub, api: httpx.AsyncClient, name: str, fmt: str) -> None:
    definition = await load_example(hub, name)
    slug = definition.tenant.slug
    key = await _key(hub, slug)
    client = Client(api, fmt)

    status, root, found = await client.get("discovery", jurisdiction_id=slug)
    assert status == 200 and root in ("discovery", "")
    endpoint = found["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2/")
    assert {"text/xml", "application/json"} <= set(endpoint["formats"])
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert found["contact"] == definition.tenant.contact

    status, root, services = await client.get("services", jurisdiction_id=slug)
    assert status == 200 and root in ("services", "")
    published = [s for s in definition.services if s.open311]
    assert [s["service_code"] for s in services] == [s.code for s in published]
    for item, spec in zip(services, published, strict=True):
        assert item["service_name"] == spec.name
        assert item["group"] == spec.group
        assert item["type"] == "realtime"
        assert flag(item["metadata"]) is bool(spec.attributes)
        assert item["keywords"] == ", ".join(spec.keywords)
        assert isinstance(item["service_code"], str)

    service = _askable(definition)
    for path in (f"services/{service.code}", f"service/{service.code}"):  # the alias some clients use
        status, root, found = await client.get(path, jurisdiction_id=slug)
        assert status == 200 and root in ("service_definition", ""), found
        assert found["service_code"] == service.code
        attributes = found["attributes"]
        assert [a["code"] for a in attributes] == [a.code for a in service.attributes]
        for order, (item, spec_attribute) in enumerate(zip(attributes, service.attributes, strict=True), 1):
            assert str(item["order"]) == str(order)
            assert item["datatype"] == spec_attribute.datatype
            assert flag(item["required"]) is spec_attribute.required
            assert flag(item["variable"]) is spec_attribute.variable
            assert item["description"] == spec_attribute.description
            if spec_attribute.values:
                assert [v["key"] for v in item["values"]] == [v.key for v in spec_attribute.values]
                assert all(isinstance(v["key"], str) for v in item["values"])

    # api_key and jurisdiction_id in the query string, empty fields for what the client does not know.
    form = _good_form(service)
    status, root, posted = await client.post(
        "requests", query={"api_key": key, "jurisdiction_id": slug}, data=form
    )
    assert status == 200, posted
    assert root in ("service_requests", "")
    reference = posted[0]["service_request_id"]
    assert isinstance(reference, str) and reference
    assert posted[0]["service_notice"]

    status, root, read = await client.get(f"requests/{reference}", jurisdiction_id=slug)
    assert status == 200 and root in ("service_requests", "")
    request = read[0]
    assert request["service_request_id"] == reference
    assert request["status"] == "open"
    assert request["status_notes"]
    assert request["service_code"] == service.code
    assert request["service_name"] == service.name
    assert request["agency_responsible"] == definition.tenant.name
    assert request["description"] == form["description"]
    assert float(request["lat"]) == 53.6531 and float(request["long"]) == -2.6326
    requested = parse_time(request["requested_datetime"])
    assert parse_time(request["updated_datetime"]) >= requested
    assert service.resolution_working_days is not None
    expected = resolution_due(definition.hours(), requested, service.resolution_working_days)
    assert parse_time(request["expected_datetime"]) == expected
    for private in ("first_name", "last_name", "email", "phone", "customer"):
        assert private not in request

    status, _, listed = await client.get(
        "requests", jurisdiction_id=slug, service_code=service.code, status="open", start_date="", end_date=""
    )
    assert status == 200 and reference in [r["service_request_id"] for r in listed]
    status, _, listed = await client.get("requests", jurisdiction_id=slug, status="closed")
    assert status == 200 and reference not in [r["service_request_id"] for r in listed]
    status, _, listed = await client.get(
        "requests", jurisdiction_id=slug, service_request_id=f"{reference},NOP-0000"
    )
    assert [r["service_request_id"] for r in listed] == [reference]

    # It came in through intake, like any AMQP message: a web enquiry, queued, with its answers.
    async with hub.sessionmaker() as session:
        enquiry = await session.scalar(select(Enquiry).where(Enquiry.reference == reference))
        assert enquiry is not None
        received = await session.scalar(
            select(EnquiryEvent).where(
                EnquiryEvent.enquiry_id == enquiry.id, EnquiryEvent.event == "enquiry.received"
            )
        )
    assert enquiry.channel == "web" and enquiry.state == "queued"
    assert enquiry.customer == {"name": "Pat Resident", "email": "pat@example.org"}
    assert enquiry.location == {"lat": 53.6531, "long": -2.6326}
    required = [a for a in service.attributes if a.required]
    assert all(a.code in enquiry.attributes for a in required)
    assert received is not None and received.data["catalogue_version"] == 1

    status, root, token = await client.get(f"tokens/{enquiry.message_id}", jurisdiction_id=slug)
    assert status == 200 and root in ("service_requests", "")
    assert token == [{"service_request_id": reference, "token": enquiry.message_id}]

    status, root, updates = await client.get("servicerequestupdates", jurisdiction_id=slug)
    assert status == 200 and root in ("service_request_updates", "")
    mine = [u for u in updates if u["service_request_id"] == reference]
    assert [u["status"] for u in mine] == ["open"]
    assert isinstance(mine[0]["update_id"], str)
    parse_time(mine[0]["updated_datetime"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", PARTNER_EXAMPLES)
async def test_every_bad_request_gets_the_standard_error_and_creates_nothing(
    hub: Hub, api: httpx.AsyncClient, make_partner, name: str, fmt: str
) -> None:
    definition = await load_example(hub, name)
    slug = definition.tenant.slug
    key = await _key(hub, slug)
    other = await make_partner(agents=0)
    other_key = await _key(hub, other.slug)
    async with unit_of_work(hub.sessionmaker) as session:
        supervisor = await create_token(session, role="supervisor", tenant=slug)
    client = Client(api, fmt)
    service = _askable(definition)
    good = _good_form(service)
    required = next(a for a in service.attributes if a.required and a.values)
    field = next(k for k in good if k.startswith(f"attribute[{required.code}]"))
    auth = {"api_key": key, "jurisdiction_id": slug}
    hidden = next((s.code for s in definition.services if not s.open311), None)
    without = {k: v for k, v in good.items() if k not in ("lat", "long")}

    cases: list[tuple[str, str, dict[str, str], dict[str, Any] | None, int, str]] = [
        ("GET", "services", {"jurisdiction_id": "nobody-here"}, None, 404, "nobody-here"),
        ("GET", "services", {}, None, 400, "jurisdiction_id"),
        ("GET", "services", {"jurisdiction_id": ""}, None, 400, "jurisdiction_id"),
        ("GET", "services/no-such-service", {"jurisdiction_id": slug}, None, 404, "no-such-service"),
        ("GET", "service/no-such-service", {"jurisdiction_id": slug}, None, 404, "no-such-service"),
        ("GET", f"services/{service.code}", {"jurisdiction_id": "nobody-here"}, None, 404, "nobody-here"),
        ("GET", "requests/NOP-0000-0000-00", {"jurisdiction_id": slug}, None, 404, "NOP-0000-0000-00"),
        ("GET", "requests", {"jurisdiction_id": "nobody-here"}, None, 404, "nobody-here"),
        ("GET", "requests", {"jurisdiction_id": slug, "start_date": "yesterday"}, None, 400, "start_date"),
        ("GET", "requests", {"jurisdiction_id": slug, "status": "maybe"}, None, 400, "status"),
        ("GET", "tokens/no-such-token", {"jurisdiction_id": slug}, None, 404, "no-such-token"),
        ("GET", "servicerequestupdates", {"jurisdiction_id": "nobody-here"}, None, 404, "nobody-here"),
        (
            "GET",
            "servicerequestupdates",
            {"jurisdiction_id": slug, "end_date": "soon"},
            None,
            400,
            "end_date",
        ),
        ("GET", "no-such-endpoint", {}, None, 404, "no such"),
        ("POST", "requests", {"api_key": key, "jurisdiction_id": "nobody-here"}, good, 404, "nobody-here"),
        ("POST", "requests", {"jurisdiction_id": slug}, good, 403, "api_key"),
        ("POST", "requests", {"jurisdiction_id": slug, "api_key": ""}, good, 403, "api_key"),
        ("POST", "requests", {"jurisdiction_id": slug, "api_key": "hub_wrong"}, good, 403, "api_key"),
        ("POST", "requests", {"jurisdiction_id": slug, "api_key": other_key}, good, 403, "api_key"),
        ("POST", "requests", {"jurisdiction_id": slug, "api_key": supervisor}, good, 403, "api_key"),
        (
            "POST",
            "requests",
            auth,
            {k: v for k, v in good.items() if k != "service_code"},
            400,
            "service_code",
        ),
        ("POST", "requests", auth, {**good, "service_code": ""}, 400, "service_code"),
        ("POST", "requests", auth, {**good, "service_code": "no-such-service"}, 400, "service_code"),
        ("POST", "requests", auth, without, 400, "location"),
        ("POST", "requests", auth, {**without, "address_string": "", "address_id": ""}, 400, "location"),
        ("POST", "requests", auth, {**without, "lat": "53.65"}, 400, "lat and long"),
        ("POST", "requests", auth, {**good, "lat": "north"}, 400, "lat"),
        ("POST", "requests", auth, {**good, "long": "200"}, 400, "long"),
        (
            "POST",
            "requests",
            auth,
            {k: v for k, v in good.items() if k != field},
            400,
            f"attribute[{required.code}]",
        ),
        ("POST", "requests", auth, {**good, field: ""}, 400, f"attribute[{required.code}]"),
        ("POST", "requests", auth, {**good, field: "not-a-choice"}, 400, f"attribute[{required.code}]"),
        ("POST", "requests", auth, {**good, "description": "x" * 4001}, 400, "description"),
        ("POST", "requests", auth, {**good, "email": "not an address"}, 400, "email"),
        ("POST", "requests", auth, {**good, "media_url": "file:///etc/passwd"}, 400, "media_url"),
        ("POST", "requests", auth, {**good, "description": "tyres\x00dumped"}, 400, "description"),
        ("GET", "tokens/a%00b", {"jurisdiction_id": slug}, None, 400, "NUL"),
        ("GET", "requests", {"jurisdiction_id": slug, "service_request_id": "\x00"}, None, 400, "NUL"),
    ]
    if hidden is not None:
        cases.append(("POST", "requests", auth, {**good, "service_code": hidden}, 400, "service_code"))
        cases.append(("GET", f"services/{hidden}", {"jurisdiction_id": slug}, None, 404, hidden))
    for method, path, query, data, expected, mention in cases:
        if method == "GET":
            status, root, errors = await client.get(path, **query)
        else:
            status, root, errors = await client.post(path, query=query, data=data)
        case = f"{method} {path} {query} -> {status} {errors}"
        assert status == expected, case
        assert root == "errors", case
        assert isinstance(errors, list) and len(errors) >= 1, case
        assert str(errors[0]["code"]) == str(expected), case
        assert mention in errors[0]["description"], case
    assert await _rows(hub, slug) == (0, 0), "a rejected request creates nothing"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_keys_in_the_body_json_bodies_and_no_suffix(hub: Hub, api: httpx.AsyncClient, fmt: str) -> None:
    definition = await load_example(hub, "lancashire")
    slug = definition.tenant.slug
    key = await _key(hub, slug)
    service = _askable(definition)
    form = {**_good_form(service), "api_key": key, "jurisdiction_id": slug}
    response = await api.post(f"/open311/v2/requests.{fmt}", data=form)
    assert response.status_code == 200, response.text
    # A JSON body, with the attributes as an object, is read the same way.
    body = {k: v for k, v in form.items() if not k.startswith("attribute[")}
    body["attribute"] = {a.code: a.values[0].key for a in service.attributes if a.required and a.values}
    response = await api.post(f"/open311/v2/requests.{fmt}", json=body)
    assert response.status_code == 200, response.text
    response = await api.post(
        f"/open311/v2/requests.{fmt}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "body" in response.text
    # No suffix: XML, the standard's required format.
    response = await api.get("/open311/v2/services", params={"jurisdiction_id": slug})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(response.content).tag == "services"


async def test_a_pool_is_not_a_jurisdiction(hub: Hub, api: httpx.AsyncClient) -> None:
    pool = await load_example(hub, "hub")
    response = await api.get("/open311/v2/services.json", params={"jurisdiction_id": pool.tenant.slug})
    assert response.status_code == 404
    assert response.json()[0]["code"] == 404


async def test_status_closes_when_the_enquiry_is_completed(hub: Hub, api: httpx.AsyncClient) -> None:
    definition = await load_example(hub, "chorley")
    slug = definition.tenant.slug
    key = await _key(hub, slug)
    service = next(s for s in definition.services if s.code == "missed-bin")
    client = Client(api, "json")
    _, _, posted = await client.post(
        "requests", query={"api_key": key, "jurisdiction_id": slug}, data=_good_form(service)
    )
    reference = posted[0]["service_request_id"]

    agent = f"{slug}-a0"  # Ann: general, waste, environment
    await hub.desk.set_status(agent, "available")
    offer = await hub.desk.current_offer(agent)
    assert offer is not None and offer.reference == reference
    await hub.desk.accept(agent, offer.enquiry_id)
    _, _, read = await client.get(f"requests/{reference}", jurisdiction_id=slug)
    assert read[0]["status"] == "open" and read[0]["status_notes"] == "An adviser is dealing with it."
    await hub.desk.complete(agent, offer.enquiry_id, "resolved", notes="spoke to Pat at 12 Market St")

    _, _, read = await client.get(f"requests/{reference}", jurisdiction_id=slug)
    assert read[0]["status"] == "closed"
    assert read[0]["status_notes"] == "Resolved."  # public wording; the agent's notes stay private
    _, _, listed = await client.get("requests", jurisdiction_id=slug, status="closed")
    assert reference in [r["service_request_id"] for r in listed]
    _, _, updates = await client.get("servicerequestupdates", jurisdiction_id=slug)
    assert [u["status"] for u in updates if u["service_request_id"] == reference] == [
        "open",
        "in_progress",
        "fixed",
    ]
    assert all("Market St" not in u["description"] for u in updates)
    # A window that ends before the request was made holds none of its updates.
    _, _, early = await client.get(
        "servicerequestupdates",
        jurisdiction_id=slug,
        start_date="2020-01-01T00:00:00Z",
        end_date="2020-01-02T00:00:00Z",
    )
    assert early == []
