"""Classification of free text against the example catalogues: a table of what residents actually say."""

from __future__ import annotations

import pytest

from tenants.classify import Terms, classify, normalise
from tests.helpers_examples import example_definition

CATALOGUES = {
    name: example_definition(name, f"{name}-classify").services
    for name in ("chorley", "south-ribble", "lancashire")
}

TABLE = [
    # (partner, text, service, the catalogue terms that decided it)
    ("chorley", "My grey bin was not collected on Tuesday", "missed-bin", ("grey bin", "bins")),
    ("chorley", "The bin men missed our street again, bins still full", "missed-bin", ("bin men", "bins")),
    (
        "chorley",
        "Wheelie bin not emptied this week",
        "missed-bin",
        ("wheelie bin", "bin not emptied", "bins"),
    ),
    ("chorley", "Someone has dumped a mattress in the lane behind the shops", "flytipping", ("dumped",)),
    ("chorley", "Fly-tipping on Moor Road: black bags and tyres", "flytipping", ("fly tipping",)),
    ("chorley", "FLYTIPPING by the canal bridge", "flytipping", ("fly tipping", "flytipping")),
    ("chorley", "Can you collect an old sofa and a fridge?", "bulky-waste", ("sofa", "fridge")),
    ("chorley", "I have moved house and need to update my council tax", "council-tax", ("council tax",)),
    (
        "chorley",
        "Question about my Council Tax bill and direct debit",
        "council-tax",
        ("council tax", "bill", "direct debit"),
    ),
    ("chorley", "Lots of dog mess on the path to the school", "dog-fouling", ("dog mess",)),
    ("chorley", "What are your opening times at Union Street?", "general", ("opening times",)),
    ("chorley", "I'd like to speak to someone about my neighbour's tree", "general", ()),
    ("chorley", "", "general", ()),
    (
        "south-ribble",
        "I would like to claim housing benefit",
        "housing-benefit",
        ("claim housing benefit", "housing benefit"),
    ),
    (
        "south-ribble",
        "How do I renew my residents parking permit?",
        "parking-permit",
        ("resident parking", "parking permit"),
    ),
    (
        "south-ribble",
        "Offensive graffiti sprayed on the bus shelter",
        "graffiti",
        ("offensive graffiti", "graffiti"),
    ),
    (
        "south-ribble",
        "Green bin permit for grass cuttings",
        "garden-waste",
        ("green bin permit", "grass cuttings"),
    ),
    ("south-ribble", "Blue bin missed on our road", "missed-bin", ("blue bin", "bins")),
    ("lancashire", "The street light outside number 12 is flickering", "street-lighting", ("street light",)),
    ("lancashire", "Streetlight out on Station Road", "street-lighting", ("street light", "streetlight")),
    ("lancashire", "Lamp post knocked over by a car", "street-lighting", ("lamp post",)),
    ("lancashire", "There is a deep pothole on Station Road", "pothole", ("pothole",)),
    ("lancashire", "Potholes everywhere on the A6, it's like a crater", "pothole", ("pothole", "crater")),
    ("lancashire", "The road is flooded because the gully is blocked", "drains", ("gully",)),
    ("lancashire", "How do I renew my blue badge?", "blue-badge", ("blue badge",)),
    (
        "lancashire",
        "My disabled parking permit has expired",
        "blue-badge",
        ("disabled parking", "disabled parking permit"),
    ),
]


@pytest.mark.parametrize(("partner", "text", "service", "terms"), TABLE)
def test_realistic_enquiries(partner: str, text: str, service: str, terms: tuple[str, ...]) -> None:
    result = classify(text, CATALOGUES[partner])
    assert result is not None
    assert result.service_code == service, (text, result)
    assert result.matched == terms
    assert result.fallback is (not terms)


def test_same_text_same_answer_every_time() -> None:
    text = "Dumped rubbish and a missed bin on the same street"
    results = {classify(text, CATALOGUES["chorley"]) for _ in range(5)}
    assert len(results) == 1


def test_longer_phrases_outweigh_single_words() -> None:
    services = [
        Terms("missed-bin", keywords=("bin",)),
        Terms("bulky-waste", keywords=("old wardrobe collection",)),
        Terms("general"),
    ]
    result = classify("collection of an old wardrobe collection and a bin", services)
    assert result is not None and result.service_code == "bulky-waste"


def test_ties_go_to_the_higher_priority_then_the_service_listed_first() -> None:
    services = [Terms("first", keywords=("permit",)), Terms("second", keywords=("permit",))]
    result = classify("permit", services)
    assert result is not None and result.service_code == "first"
    services.append(Terms("urgent", keywords=("permit",), priority=8))
    result = classify("permit", services)
    assert result is not None and result.service_code == "urgent"


def test_no_general_service_and_no_match_gives_nothing() -> None:
    assert classify("hello", [Terms("pothole", keywords=("pothole",))]) is None


def test_normalisation() -> None:
    assert normalise("Lorries & Buses' boxes") == ("lorry", "and", "buse", "box")
    # Verb endings stay: a parking question is not about parks.
    assert normalise("Parking") == ("parking",)
    assert classify(
        "park bench broken", [Terms("permit", keywords=("parking",)), Terms("general")]
    ) == classify("", [Terms("general")])


def test_recorded_data_shape() -> None:
    result = classify("grey bin missed", CATALOGUES["chorley"])
    assert result is not None
    assert result.as_data() == {
        "service_code": "missed-bin",
        "matched_terms": ["grey bin", "bins"],
        "score": 2,
        "fallback": False,
    }
