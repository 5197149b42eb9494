"""An enquiry's trail in words: one sentence per step, built from the step's structured data.

The supervisor's trail page and the API's ``/enquiries/{id}/trail`` both call ``tell``, so the page and the
API say the same thing. Names, never slugs (partners, services as the enquiry's own catalogue version named
them, agents, agreements); times in the owning partner's zone (docs/design.md, "The trail in words").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.models import Enquiry, EnquiryEvent
from routing.states import EventName
from tenants.agreements.service import agreements_as_of
from tenants.models import Agent, Service, Tenant
from tenants.service import name_of, service_names

OUTCOME_WORDS = {
    "resolved": "resolved at first contact",
    "passed_to_back_office": "passed to the back office",
    "callback_booked": "callback booked",
    "transferred": "transferred",
    "no_action": "no action needed",
}
CHANNEL_WORDS = {
    "phone": "a phone call",
    "web": "a web form",
    "email": "an email",
    "face_to_face": "a visit",
    "callback": "a callback",
}
_WITHDRAWN_BECAUSE = {
    "offer_lost": "the offer was lost on its way to the agent",
    "live_state_rebuilt": "the live queue was rebuilt",
}
_ABANDONED_BECAUSE = {"caller_hung_up": "The caller hung up", "cancelled": "The enquiry was cancelled"}
_PREDICTION_BY = {
    "erlang_c": "from the queue's recent arrivals and handling times",
    "position": "by position in the queue",
}


@dataclass(frozen=True)
class Names:
    """What a sentence needs to name things: the owner's zone and the names behind every code."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    partners: Mapping[str, str] = field(default_factory=dict)  # slug -> name
    services: Mapping[str, str] = field(default_factory=dict)  # "tenant/code" -> name
    agents: Mapping[str, str] = field(default_factory=dict)  # id -> name
    agreements: Mapping[str, str] = field(default_factory=dict)  # id -> name ("" when it has none)
    agreement_parties: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (lender, borrower)

    def partner(self, slug: str | None) -> str:
        return self.partners.get(slug or "", slug or "an unknown partner")

    def service(self, tenant: str, code: str) -> str:
        return self.services.get(f"{tenant}/{code}", code.replace("-", " "))

    def agent(self, agent_id: str | None) -> str:
        return self.agents.get(agent_id or "", agent_id or "an agent")

    def agreement(self, agreement_id: str | None) -> str:
        """``the evening agreement`` when it is named; else who helps whom."""
        name = self.agreements.get(agreement_id or "")
        if name:
            return name if name.lower().startswith("the ") else f"the {name}"
        parties = self.agreement_parties.get(agreement_id or "")
        if parties:
            return f"the agreement by which {self.partner(parties[0])} helps {self.partner(parties[1])}"
        return f"agreement {agreement_id}"

    def clock(self, moment: datetime | str | None, *, since: datetime | None = None) -> str:
        """``18:00`` on the day of ``since`` (or with no ``since``); ``Mon 7 Dec 18:00`` on another day."""
        if moment is None:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        local = moment.astimezone(self.zone)
        if since is not None and since.astimezone(self.zone).date() != local.date():
            return f"{local:%a} {local.day} {local:%b %H:%M}"
        return f"{local:%H:%M}"

    def unslug(self, text: str) -> str:
        """A policy reason's text with the partners' slugs replaced by their names (longest slug first)."""
        for slug in sorted(self.partners, key=len, reverse=True):
            text = _replace_word(text, slug, self.partners[slug])
        return text


@dataclass(frozen=True)
class Step:
    event: str
    at: datetime
    agent_id: str | None
    handler: str | None
    data: Mapping[str, Any]


def tell(step: Step, names: Names, *, owner: str, service_code: str) -> str:
    """One step of ``owner``'s enquiry (for ``service_code``) as a sentence a supervisor understands."""
    teller = _TELLERS.get(step.event)
    if teller is None:
        said = step.event.removeprefix("enquiry.").replace("_", " ").capitalize() + "."
    else:
        said = teller(step, names, owner, service_code)
    # What the step carries for the people allowed to read it (the trail's access decision took out the rest):
    # an agent's notes, a number to ring back.
    d = step.data
    if d.get("notes") and "Notes:" not in said:
        said += f" Notes: “{d['notes']}”."
    if d.get("phone"):
        said += f" Number to ring: {d['phone']}."
    return said


def wait_words(seconds: float | None) -> str:
    """A predicted wait as a person would say it: ``about 2 minutes``."""
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "none: it can be answered at once"
    if seconds < 60:
        return f"about {max(5, 5 * math.ceil(seconds / 5)):.0f} seconds"
    minutes = round(seconds / 60)
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"


def waited_words(seconds: float | None) -> str:
    """A wait that happened, exactly: ``1 min 12 s``."""
    if seconds is None:
        return "an unknown time"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest:02d} s"


# -- one teller per event ---------------------------------------------------------------------------------


def _received(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    if "transferred_from" in d:
        return (
            f"Received by {names.partner(owner)} as a transfer from {names.partner(d.get('from_owner'))} "
            f"(enquiry {d['transferred_from']})."
        )
    said = f"Received by {names.partner(owner)}"
    if d.get("received_at"):
        said += f" at {names.clock(d['received_at'], since=step.at)}"
    classification = d.get("classification")
    if isinstance(classification, Mapping):
        terms = ", ".join(f"“{t}”" for t in classification.get("matched_terms") or [])
        service = names.service(owner, str(classification.get("service_code", service_code)))
        if classification.get("fallback"):
            said += f". No service matched its words, so it went to {service}"
        else:
            said += f". Its words ({terms}) put it under {service}" if terms else f". Classified as {service}"
    if d.get("catalogue_version") is not None:
        said += f" (catalogue version {d['catalogue_version']})"
    return said + "."


def _queued(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    service = names.service(owner, service_code)
    if "transferred_from" in d:
        return f"Queued for {names.partner(owner)}'s “{service}” queue after the transfer."
    routing = d.get("routing")
    if not isinstance(routing, Mapping) or not routing:
        return f"Queued for {names.partner(owner)}'s “{service}” queue."
    sentences = [
        f"Queued for {names.partner(owner)}'s “{service}” queue at priority {routing.get('priority')}."
    ]
    sentences.append(_prediction(routing.get("predicted_wait_seconds"), routing.get("prediction_method")))
    reasons = [r for r in routing.get("reasons") or [] if isinstance(r, Mapping)]
    for ring in (routing.get("rings") or [])[1:]:
        sentences.append(_ring(ring, reasons, names, step.at))
    for reason in reasons:
        if reason.get("rule") == "out_of_hours":
            sentences.append(f"{names.partner(owner)} is closed now.")
    action = routing.get("action")
    if action == "offer_callback":
        sentences.append("The caller is offered a callback; they keep their place in the queue.")
    elif action == "voicemail":
        sentences.append("The caller is offered voicemail.")
    return " ".join(sentences)


def _prediction(seconds: float | None, method: object) -> str:
    if method == "no_agents" or seconds is None:
        return "No agent with the skills is signed in, so no wait can be predicted."
    if seconds < 1:
        return "It can be answered at once."
    base, lenders = str(method).removesuffix("_with_lenders"), str(method).endswith("_with_lenders")
    said = f"Expected wait {wait_words(seconds)}, {_PREDICTION_BY.get(base, 'as estimated')}"
    return said + (", counting the agents lenders may give under agreements open now." if lenders else ".")


def _ring(ring: Mapping[str, Any], reasons: Sequence[Mapping[str, Any]], names: Names, at: datetime) -> str:
    agreement = ring.get("agreement")
    gate_open: bool | None = None
    for reason in reasons:
        figures = reason.get("figures") or {}
        if (
            reason.get("rule") == "agreement"
            and figures.get("agreement") == agreement
            and "gate_open" in figures
        ):
            gate_open = bool(figures["gate_open"])
    opens_at = ring.get("opens_at")
    opens = datetime.fromisoformat(opens_at) if isinstance(opens_at, str) else at
    when = "now" if opens <= at else f"from {names.clock(opens, since=at)}"
    said = f"{names.partner(ring.get('pool'))} may take it {when} under {names.agreement(agreement)}"
    if gate_open is not None:
        said += "; open now" if gate_open else "; closed now"
    return said + "."


def _offered(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    said = f"Offered to {names.agent(step.agent_id)}"
    if step.handler and step.handler != owner:
        said += f" ({names.partner(step.handler)})"
    if d.get("agreement"):
        said += f" under {names.agreement(d['agreement'])}"
    if d.get("expires_at"):
        expires = datetime.fromisoformat(d["expires_at"])
        seconds = (expires - step.at).total_seconds()
        said += f", to accept within {waited_words(seconds)}" if seconds > 0 else ""
    if d.get("agent_choice_says"):
        said += f"; {d['agent_choice_says']}"  # the proficiency rule that chose this agent
    return said + "."


def _overflowed(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    lender = d.get("lender") or step.handler
    said = f"Overflowed to {names.partner(lender)}'s agents under {names.agreement(d.get('agreement'))}"
    why = [_condition(r, names) for r in d.get("reasons") or [] if isinstance(r, Mapping)]
    why = [w for w in why if w]
    if why:
        said += ": " + "; ".join(why)
    return said + "."


def _condition(reason: Mapping[str, Any], names: Names) -> str:
    figures = reason.get("figures") or {}
    if reason.get("rule") == "lender_protection" and "lender" in figures and "queue" not in figures:
        return f"{names.partner(figures['lender'])} stays on target with one agent fewer"
    return names.unslug(str(reason.get("says", ""))).replace("not: ", "not met: ")


def _answered(step: Step, names: Names, owner: str, service_code: str) -> str:
    waited = step.data.get("waited_seconds")
    said = f"Answered by {names.agent(step.agent_id)}"
    if step.handler and step.handler != owner:
        said += f" ({names.partner(step.handler)})"
    return said + (f" after a wait of {waited_words(waited)}." if waited is not None else ".")


def _completed(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    outcome = OUTCOME_WORDS.get(str(d.get("outcome")), str(d.get("outcome") or "").replace("_", " "))
    said = f"Completed by {names.agent(step.agent_id)}: {outcome}."
    if d.get("notes"):
        said += f" Notes: “{d['notes']}”."
    if d.get("tags"):
        said += " Tagged " + ", ".join(str(t) for t in d["tags"]) + "."
    return said


def _abandoned(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    said = _ABANDONED_BECAUSE.get(str(d.get("reason")), "The enquiry was abandoned")
    waited = d.get("waited_seconds")
    return said + (f" after waiting {waited_words(waited)}." if waited is not None else ".")


def _offer_rejected(step: Step, names: Names, owner: str, service_code: str) -> str:
    return f"{names.agent(step.agent_id)} turned the offer down; it went back to its place in the queue."


def _offer_timed_out(step: Step, names: Names, owner: str, service_code: str) -> str:
    return f"{names.agent(step.agent_id)} did not accept the offer in time; it went back to its place in the queue."


def _offer_withdrawn(step: Step, names: Names, owner: str, service_code: str) -> str:
    because = _WITHDRAWN_BECAUSE.get(str(step.data.get("reason")), "it could not be kept")
    return f"The offer to {names.agent(step.agent_id)} was withdrawn because {because}; it waits in the queue again."


def _callback_or_voicemail(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    what = "a callback" if step.event == EventName.CALLBACK_OFFERED else "voicemail"
    said = f"The caller was offered {what}"
    reasons = [r for r in d.get("reasons") or [] if isinstance(r, Mapping)]
    if any(r.get("rule") == "out_of_hours" for r in reasons):
        said += f" because {names.partner(owner)} is closed"
    elif d.get("predicted_wait_seconds") is not None:
        said += f": the expected wait was {wait_words(d['predicted_wait_seconds'])}"
    for reason in reasons:
        agreement = (reason.get("figures") or {}).get("agreement")
        if reason.get("rule") == "agreement" and agreement:
            said += f", under {names.agreement(agreement)}"
    return said + "."


def _callback_accepted(step: Step, names: Names, owner: str, service_code: str) -> str:
    return "The caller accepted a callback and keeps their place in the queue."


def _transferred(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    queue = str(d.get("to_queue", ""))
    tenant, _, code = queue.partition("/")
    return (
        f"{names.agent(step.agent_id)} transferred it to {names.partner(tenant)}'s “{names.service(tenant, code)}” "
        f"queue, as enquiry {d.get('to_reference', '')}."
    )


def _case_updated(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    said = f"The back office updated the case: {str(d.get('status', '')).replace('_', ' ')}"
    if d.get("expected_date"):
        said += f", expected by {datetime.fromisoformat(d['expected_date']):%-d %b %Y}"
    return said + "."


def _survey_invited(step: Step, names: Names, owner: str, service_code: str) -> str:
    return "The customer was invited to say how it went (a satisfaction survey)."


def _says(step: Step) -> str:
    """The sentence an event carries in its ``says`` (written where the event is made), tidied."""
    return str(step.data.get("says") or "").rstrip(".")


def _parked(step: Step, names: Names, owner: str, service_code: str) -> str:
    return f"Set aside by {names.agent(step.agent_id)}: it {_says(step)}."


def _resumed(step: Step, names: Names, owner: str, service_code: str) -> str:
    said = f"Taken up again by {names.agent(step.agent_id)}"
    reference = step.data.get("for_reference")
    said += f": the live contact {reference} it waited behind has ended" if reference else ""
    seconds = step.data.get("parked_seconds")
    return said + (f" (set aside for {waited_words(float(seconds))})." if seconds is not None else ".")


def _callback_attempted(step: Step, names: Names, owner: str, service_code: str) -> str:
    d = step.data
    said = f"{names.agent(step.agent_id)} rang back (attempt {d.get('attempt')}"
    said += f" of {d['of']}): " if d.get("of") else "): "
    result = str(d.get("result", "")).replace("_", " ")
    said += "the caller answered" if result == "reached" else result
    if d.get("retry_at"):
        said += f"; to be rung again from {names.clock(d['retry_at'], since=step.at)}, at its old place"
    elif d.get("given_up"):
        said += "; no more attempts"
    return said + "."


def _callback_retry_due(step: Step, names: Names, owner: str, service_code: str) -> str:
    return f"Time to ring again: {_says(step)}."


def _told_next_opening(step: Step, names: Names, owner: str, service_code: str) -> str:
    opens = step.data.get("next_opening")
    if not opens:
        return "The visitor was told the desk has no opening hours ahead."
    return f"Out of hours: the visitor was told the desk opens again at {names.clock(opens, since=step.at)}."


def _replanned(step: Step, names: Names, owner: str, service_code: str) -> str:
    return f"Planned again: {_says(step)}."


_TELLERS: dict[str, Callable[[Step, Names, str, str], str]] = {
    EventName.RECEIVED: _received,
    EventName.QUEUED: _queued,
    EventName.OFFERED: _offered,
    EventName.OVERFLOWED: _overflowed,
    EventName.ANSWERED: _answered,
    EventName.COMPLETED: _completed,
    EventName.ABANDONED: _abandoned,
    EventName.OFFER_REJECTED: _offer_rejected,
    EventName.OFFER_TIMED_OUT: _offer_timed_out,
    EventName.OFFER_WITHDRAWN: _offer_withdrawn,
    EventName.CALLBACK_OFFERED: _callback_or_voicemail,
    EventName.VOICEMAIL: _callback_or_voicemail,
    EventName.CALLBACK_ACCEPTED: _callback_accepted,
    EventName.TRANSFERRED: _transferred,
    EventName.CASE_UPDATED: _case_updated,
    EventName.SURVEY_INVITED: _survey_invited,
    EventName.PARKED: _parked,
    EventName.RESUMED: _resumed,
    EventName.CALLBACK_ATTEMPTED: _callback_attempted,
    EventName.CALLBACK_RETRY_DUE: _callback_retry_due,
    EventName.TOLD_NEXT_OPENING: _told_next_opening,
    EventName.REPLANNED: _replanned,
}


def _replace_word(text: str, word: str, by: str) -> str:
    """``word`` replaced where it stands alone (not inside ``south-ribble-lends-chorley``)."""
    out, start = [], 0
    while (i := text.find(word, start)) >= 0:
        end = i + len(word)
        before = text[i - 1] if i else " "
        after = text[end] if end < len(text) else " "
        if (before.isalnum() or before in "-_/") or (after.isalnum() or after in "-_"):
            out.append(text[start:end])
        else:
            out.append(text[start:i] + by)
        start = end
    out.append(text[start:])
    return "".join(out)


# -- the names an enquiry's trail needs -------------------------------------------------------------------


async def names_for(session: AsyncSession, enquiry: Enquiry, events: Iterable[EnquiryEvent]) -> Names:
    """Every name the steps of ``enquiry`` mention, read in a few queries; the service names its own
    catalogue version gave (a service renamed since reads as it was named then)."""
    events = list(events)
    partners = {slug: name for slug, name in (await session.execute(select(Tenant.slug, Tenant.name))).all()}
    zone_name = await session.scalar(select(Tenant.timezone).where(Tenant.slug == enquiry.tenant_slug))
    agent_ids = {e.agent_id for e in events if e.agent_id}
    agents = (
        {
            i: n
            for i, n in (
                await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
            ).all()
        }
        if agent_ids
        else {}
    )
    wanted = {enquiry.tenant_slug}
    for e in events:
        queue = (e.data or {}).get("to_queue")
        if isinstance(queue, str) and "/" in queue:
            wanted.add(queue.split("/", 1)[0])
    services = {
        f"{t}/{code}": name
        for t, code, name in (
            await session.execute(
                select(Service.tenant_slug, Service.code, Service.name).where(Service.tenant_slug.in_(wanted))
            )
        ).all()
    }
    own = await service_names(session, tenant=enquiry.tenant_slug, versions={enquiry.catalogue_version})
    services.update(
        {f"{enquiry.tenant_slug}/{code}": name_of(own, enquiry.catalogue_version, code) for _, code in own}
    )
    # As they stood when the enquiry came in: renamed since, or ended, an agreement keeps its name in the trail.
    as_it_was = await agreements_as_of(session, enquiry.created_at)
    agreements = {agreement_id: a.name for agreement_id, a in as_it_was.items()}
    parties = {agreement_id: (a.lender, a.borrower) for agreement_id, a in as_it_was.items()}
    return Names(
        zone=ZoneInfo(zone_name or "Europe/London"),
        partners=partners,
        services=services,
        agents=agents,
        agreements=agreements,
        agreement_parties=parties,
    )
