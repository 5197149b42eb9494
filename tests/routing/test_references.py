"""Public references: read over the phone, so Crockford's alphabet; published, so unguessable."""

from __future__ import annotations

import re

from routing.references import new_reference


def test_a_reference_is_a_partner_hint_and_ten_crockford_characters() -> None:
    reference = new_reference("south-ribble")
    assert re.fullmatch(r"SOU-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}", reference)
    assert new_reference("42").startswith("HUB-")  # no letters to hint with


def test_references_do_not_repeat_and_use_the_whole_alphabet() -> None:
    references = [new_reference("chorley") for _ in range(20_000)]
    assert len(set(references)) == len(references)
    used = {c for r in references for c in r[4:].replace("-", "")}
    assert used == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
