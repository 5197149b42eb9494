"""The pure policy: decisions and reasons from a snapshot, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from routing.policy import (
    Agreement,
    Conditions,
    EnquiryFacts,
    QueueFigures,
    ServiceTerms,
    Snapshot,
    Window,
    decide,
    gates,
    predict_wait,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
BIN = ServiceTerms("chorley", "missed-bin", frozenset({"waste"}), 5, 20, 0.8)
SR_BIN = ServiceTerms("south-ribble", "missed-bin", frozenset({"waste"}), 5, 20, 0.8)


def agreement(**overrides: object) -> Agreement:
    fields: dict[str, object] = {
        "id": "sr-lends",
        "lender": "south-ribble",
        "borrower": "chorley",
        "services": None,
        "channels": None,
        "windows": (),
        "timezone": "Europe/London",
        "conditions": Conditions(waited_at_least_seconds=60),
        "actions": frozenset({"widen"}),
        "max_per_hour": 10,
        "max_concurrent": 3,
        "lender_protection": 0.8,
        "unit_rate": 4.2,
        "visible_fields": ("name",),
    }
    fields.update(overrides)
    return Agreement(**fields)  # type: ignore[arg-type]


def snapshot(**overrides: object) -> Snapshot:
    fields: dict[str, object] = {
        "now": NOW,
        "queues": {"chorley/missed-bin": QueueFigures(waiting=30, agents_staffed=2)},
        "services": {"chorley/missed-bin": BIN, "south-ribble/missed-bin": SR_BIN},
        "open_now": {},
        "agreements": (agreement(),),
    }
    fields.update(overrides)
    return Snapshot(**fields)  # type: ignore[arg-type]


def facts(channel: str = "phone") -> EnquiryFacts:
    return EnquiryFacts(1, "chorley", "missed-bin", channel, 5, NOW)


def test_a_lenders_ring_opens_after_the_agreed_wait_with_reasons() -> None:
    decision = decide(facts(), BIN, snapshot())
    assert [(r.pool, r.opens_at, r.agreement) for r in decision.rings] == [
        ("chorley", NOW, None),
        ("south-ribble", NOW + timedelta(seconds=60), "sr-lends"),
    ]
    assert decision.action == "queue" and decision.priority == 5
    # 31st in line behind 2 agents at the default 240 s: the backlog decides, not the steady state.
    assert decision.predicted_wait.method == "position"
    assert decision.predicted_wait.seconds == 31 * 240 / 2
    assert {r.rule for r in decision.reasons} >= {"priority", "predicted_wait", "own_agents", "agreement"}


def test_erlang_c_in_the_steady_state() -> None:
    figures = QueueFigures(waiting=0, arrivals_per_second=100 / 1800, aht_seconds=180, agents_staffed=14)
    prediction = predict_wait(figures, BIN, 1)
    assert prediction.method == "erlang_c" and round(prediction.seconds or 0, 1) == 7.8
    assert predict_wait(QueueFigures(), BIN, 1).method == "no_agents"


def test_callbacks_when_the_wait_is_long_and_the_service_allows() -> None:
    with_callbacks = ServiceTerms("chorley", "missed-bin", frozenset({"waste"}), 5, 20, 0.8, callbacks=True)
    assert decide(facts(), with_callbacks, snapshot()).action == "offer_callback"
    assert decide(facts(), BIN, snapshot()).action == "queue"
    assert decide(facts("email"), with_callbacks, snapshot()).action == "queue"


def test_out_of_hours() -> None:
    closed = snapshot(open_now={"chorley": False}, agreements=())
    assert decide(facts(), BIN, closed).action == "voicemail"
    with_callbacks = ServiceTerms("chorley", "missed-bin", frozenset({"waste"}), 5, 20, 0.8, callbacks=True)
    assert decide(facts(), with_callbacks, closed).action == "offer_callback"
    evening = agreement(
        lender="hub",
        conditions=Conditions(),
        windows=(Window(frozenset(range(7)), time(9, 0), time(22, 0)),),
    )
    decision = decide(facts(), BIN, snapshot(open_now={"chorley": False}, agreements=(evening,)))
    assert decision.action == "queue" and decision.rings[1].opens_at == NOW


def test_gates_follow_conditions_and_lender_protection() -> None:
    busy_lender = {
        "chorley/missed-bin": QueueFigures(waiting=30, agents_staffed=2),
        "south-ribble/missed-bin": QueueFigures(arrivals_per_second=20 / 1800, agents_staffed=4),
    }
    quiet = gates(snapshot(agreements=(agreement(conditions=Conditions(queue_length_at_least=10)),)))
    assert [g.open for g in quiet] == [True]
    [closed] = gates(snapshot(queues=busy_lender))
    assert not closed.open
    assert any(r.rule == "lender_protection" and r.says.startswith("not") for r in closed.reasons)
    [short] = gates(snapshot(agreements=(agreement(conditions=Conditions(queue_length_at_least=31)),)))
    assert not short.open
    [capped] = gates(snapshot(overflow_in_hand={"sr-lends": 3}))
    assert not capped.open


def test_windows_past_midnight() -> None:
    night = Window(frozenset({0}), time(22, 0), time(6, 0))  # Monday night into Tuesday
    assert night.contains(datetime(2026, 11, 23, 23, 0))
    assert night.contains(datetime(2026, 11, 24, 5, 59))
    assert not night.contains(datetime(2026, 11, 24, 6, 0))
    assert not night.contains(datetime(2026, 11, 23, 5, 0))
