"""The example partners of deploy/examples, loadable under unique slugs so tests never share rows."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions
from tests.conftest import unique_slug

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"
PARTNER_EXAMPLES = ("chorley", "south-ribble", "lancashire")


@lru_cache(maxsize=8)
def _example_raw(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return raw


def example_raw(name: str) -> dict[str, Any]:
    """A fresh copy of an example file's content."""
    return copy.deepcopy(_example_raw(name))


def example_definition(name: str, slug: str, **changes: Any) -> PartnerDefinition:
    """The example ``name`` as partner ``slug``, its agents renamed after the slug (agent ids are global)."""
    raw = example_raw(name)
    raw["tenant"]["slug"] = slug
    raw["agents"] = [{**a, "id": f"{slug}-a{i}"} for i, a in enumerate(raw.get("agents") or [])]
    raw.update(changes)
    return PartnerDefinition.model_validate(raw)


async def load_example(hub: Hub, name: str) -> PartnerDefinition:
    """Store the example ``name`` under a unique slug and refresh the running hub's catalogue."""
    definition = example_definition(name, unique_slug(name))
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[definition], source=f"test ({name})")
    await hub.catalogue.reload()
    return definition
