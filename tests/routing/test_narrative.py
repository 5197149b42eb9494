"""The trail in words: each step's sentence, from structured data shaped as the events record it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from routing.narrative import Names, Step, tell, wait_words, waited_words

NAMES = Names(
    zone=ZoneInfo("Europe/London"),
    partners={
        "chorley": "Chorley Council",
        "south-ribble": "South Ribble Borough Council",
        "hub": "Hub team",
    },
    services={"chorley/flytipping": "Fly-tipping", "south-ribble/general": "General enquiries"},
    agents={"chorley-lee": "Lee Hart", "hub-sam": "Sam Patel"},
    agreements={"hub-evenings-chorley": "evening agreement", "south-ribble-lends-chorley": ""},
    agreement_parties={"south-ribble-lends-chorley": ("south-ribble", "chorley")},
)
# 16:05 in London on a December day (GMT: UTC+0); the lender's ring opens at 18:00.
AT = datetime(2026, 12, 7, 16, 5, tzinfo=UTC)


def _say(event: str, data: dict, agent: str | None = None, handler: str | None = None) -> str:
    return tell(Step(event, AT, agent, handler, data), NAMES, owner="chorley", service_code="flytipping")


def test_a_queued_step_names_the_partner_the_service_the_wait_and_the_lenders_ring() -> None:
    routing = {
        "priority": 6,
        "action": "queue",
        "rings": [
            {"pool": "chorley", "opens_at": AT.isoformat(), "agreement": None},
            {
                "pool": "south-ribble",
                "opens_at": "2026-12-07T18:00:00+00:00",
                "agreement": "hub-evenings-chorley",
            },
        ],
        "predicted_wait_seconds": 118.0,
        "prediction_method": "position",
        "reasons": [
            {"rule": "priority", "says": "priority 6", "figures": {"priority": 6}},
            {
                "rule": "agreement",
                "says": "south-ribble's agents may take it ...",
                "figures": {
                    "agreement": "hub-evenings-chorley",
                    "lender": "south-ribble",
                    "gate_open": False,
                },
            },
        ],
    }
    assert _say("enquiry.queued", {"routing": routing}) == (
        "Queued for Chorley Council's “Fly-tipping” queue at priority 6. Expected wait about 2 minutes, by "
        "position in the queue. South Ribble Borough Council may take it from 18:00 under the evening "
        "agreement; closed now."
    )


def test_an_unnamed_agreement_says_who_helps_whom_and_a_callback_is_said_plainly() -> None:
    routing = {
        "priority": 3,
        "action": "offer_callback",
        "rings": [
            {"pool": "chorley", "opens_at": AT.isoformat(), "agreement": None},
            {"pool": "south-ribble", "opens_at": AT.isoformat(), "agreement": "south-ribble-lends-chorley"},
        ],
        "predicted_wait_seconds": None,
        "prediction_method": "no_agents",
        "reasons": [],
    }
    assert _say("enquiry.queued", {"routing": routing}) == (
        "Queued for Chorley Council's “Fly-tipping” queue at priority 3. No agent with the skills is signed in, "
        "so no wait can be predicted. South Ribble Borough Council may take it now under the agreement by which "
        "South Ribble Borough Council helps Chorley Council. The caller is offered a callback; they keep their "
        "place in the queue."
    )


def test_offer_answer_overflow_and_completion_name_people_and_partners() -> None:
    offered = {"expires_at": "2026-12-07T16:05:20+00:00", "queue": "chorley/flytipping"}
    assert _say("enquiry.offered", offered, "chorley-lee", "chorley") == (
        "Offered to Lee Hart, to accept within 20 s."
    )
    overflowed = {
        "queue": "chorley/flytipping@hub",
        "agreement": "hub-evenings-chorley",
        "lender": "hub",
        "reasons": [
            {"rule": "agreement_conditions", "says": "waited 75 s ≥ 60 s", "figures": {}},
            {
                "rule": "lender_protection",
                "says": "hub stays on target",
                "figures": {"lender": "hub", "lent_now": 0},
            },
        ],
    }
    assert _say("enquiry.overflowed", overflowed, "hub-sam", "hub") == (
        "Overflowed to Hub team's agents under the evening agreement: waited 75 s ≥ 60 s; Hub team stays on "
        "target with one agent fewer."
    )
    assert _say("enquiry.answered", {"waited_seconds": 72.4}, "hub-sam", "hub") == (
        "Answered by Sam Patel (Hub team) after a wait of 1 min 12 s."
    )
    completed = {"outcome": "passed_to_back_office", "notes": "Sofa on the verge"}
    assert _say("enquiry.completed", completed, "hub-sam", "hub") == (
        "Completed by Sam Patel: passed to the back office. Notes: “Sofa on the verge”."
    )
    transferred = {"to_enquiry_id": 9, "to_reference": "SR-000009", "to_queue": "south-ribble/general"}
    assert _say("enquiry.transferred", transferred, "chorley-lee", "chorley") == (
        "Lee Hart transferred it to South Ribble Borough Council's “General enquiries” queue, as enquiry SR-000009."
    )


def test_received_and_abandoned_steps_and_slugs_in_a_reasons_text_become_names() -> None:
    received = {
        "received_at": "2026-12-07T16:04:58+00:00",
        "catalogue_version": 3,
        "classification": {
            "service_code": "flytipping",
            "matched_terms": ["dumped"],
            "score": 1,
            "fallback": False,
        },
    }
    assert _say("enquiry.received", received) == (
        "Received by Chorley Council at 16:04. Its words (“dumped”) put it under Fly-tipping (catalogue version 3)."
    )
    assert _say("enquiry.abandoned", {"reason": "caller_hung_up", "waited_seconds": 41}) == (
        "The caller hung up after waiting 41 s."
    )
    # A slug inside another word (an agreement's id) is left alone.
    assert NAMES.unslug("chorley is closed; see south-ribble-lends-chorley") == (
        "Chorley Council is closed; see south-ribble-lends-chorley"
    )


def test_times_are_in_the_partners_zone_and_waits_read_as_people_say_them() -> None:
    summer = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)  # 18:00 in London (BST)
    assert NAMES.clock(summer) == "18:00"
    assert NAMES.clock(summer, since=datetime(2026, 6, 30, 12, 0, tzinfo=UTC)) == "Wed 1 Jul 18:00"
    assert [wait_words(s) for s in (0.0, 12.0, 95.0, 600.0)] == [
        "none: it can be answered at once",
        "about 15 seconds",
        "about 2 minutes",
        "about 10 minutes",
    ]
    assert waited_words(3725) == "62 min 05 s"


def test_blending_steps_say_why_a_web_form_was_set_aside_and_when_it_was_taken_up_again() -> None:
    parked = {
        "for_enquiry": 9,
        "for_reference": "CHO-9",
        "says": "waits while the agent takes a live phone contact (CHO-9): live contacts never wait behind "
        "web forms or emails",
    }
    assert _say("enquiry.parked", parked, agent="chorley-lee") == (
        "Set aside by Lee Hart: it waits while the agent takes a live phone contact (CHO-9): live contacts "
        "never wait behind web forms or emails."
    )
    resumed = {"for_enquiry": 9, "for_reference": "CHO-9", "parked_seconds": 150.0, "says": "taken up again"}
    assert _say("enquiry.resumed", resumed, agent="chorley-lee") == (
        # 150 s = 2 min 30 s
        "Taken up again by Lee Hart: the live contact CHO-9 it waited behind has ended (set aside for "
        "2 min 30 s)."
    )


def test_callback_attempts_retries_replans_and_next_openings_are_told_in_words() -> None:
    missed = {"attempt": 1, "of": 3, "result": "no_answer", "retry_at": "2026-12-07T16:20:00+00:00"}
    assert _say("enquiry.callback_attempted", missed, agent="chorley-lee") == (
        "Lee Hart rang back (attempt 1 of 3): no answer; to be rung again from 16:20, at its old place."
    )
    last = {"attempt": 3, "of": 3, "result": "busy", "given_up": True}
    assert _say("enquiry.callback_attempted", last, agent="chorley-lee") == (
        "Lee Hart rang back (attempt 3 of 3): busy; no more attempts."
    )
    reached = {"attempt": 2, "of": 3, "result": "reached"}
    assert _say("enquiry.callback_attempted", reached, agent="chorley-lee") == (
        "Lee Hart rang back (attempt 2 of 3): the caller answered."
    )
    due = {"attempts_so_far": 1, "says": "back in its queue at its old place, to be rung again"}
    assert _say("enquiry.callback_retry_due", due) == (
        "Time to ring again: back in its queue at its old place, to be rung again."
    )
    # AT is Monday 7 December 16:05 in London; the desk opens the next morning.
    told = {"next_opening": "2026-12-08T08:30:00+00:00", "says": "the desk opens again at 2026-12-08T08:30"}
    assert _say("enquiry.told_next_opening", told) == (
        "Out of hours: the visitor was told the desk opens again at Tue 8 Dec 08:30."
    )
    replanned = {"says": "the agreements changed: its rings were planned again, and it keeps its place"}
    assert _say("enquiry.replanned", replanned) == (
        "Planned again: the agreements changed: its rings were planned again, and it keeps its place."
    )
    offered = {
        "agent_choice": "best_skilled",
        "agent_level": 5,
        "agent_choice_says": "offered to the best-skilled idle agent (level 5 of 5 in waste), then the "
        "longest idle",
    }
    assert _say("enquiry.offered", offered, agent="chorley-lee") == (
        "Offered to Lee Hart; offered to the best-skilled idle agent (level 5 of 5 in waste), then the "
        "longest idle."
    )


def test_a_wait_counting_lenders_agents_says_so() -> None:
    routing = {"priority": 5, "action": "queue", "rings": [], "reasons": []}
    said = _say(
        "enquiry.queued",
        {
            "routing": {
                **routing,
                "predicted_wait_seconds": 60.0,
                "prediction_method": "erlang_c_with_lenders",
            }
        },
    )
    assert (
        "Expected wait about 1 minute, from the queue's recent arrivals and handling times, counting the agents "
        "lenders may give under agreements open now." in said
    ), said
