"""The what-if API for the committee: run one or two scenarios inline and get the figures back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from whatif.scenario import ScenarioInvalid
from whatif.service import run_inline

router = APIRouter(prefix="/api/v1/committee", tags=["what-if"])


class WhatIfIn(BaseModel):
    scenario: str = Field(description="Scenario YAML (see docs/simulator.md); partners are the hub's own")
    compare: str | None = Field(default=None, description="A second scenario, run with the same seed")
    seed: int | None = None


@router.post("/whatif", summary="Simulate one or two scenarios through the live routing policy")
async def whatif(
    body: WhatIfIn, request: Request, principal: Principal = Depends(require("committee"))
) -> dict[str, Any]:
    hub = request.app.state.hub
    texts = [body.scenario] + ([body.compare] if body.compare else [])
    try:
        reports = await run_inline(
            texts,
            catalogue=await hub.catalogue.get(),
            sessionmaker=hub.sessionmaker,
            seed=body.seed,
            who=principal,
        )
    except ScenarioInvalid as exc:
        raise HTTPException(422, {"problems": exc.problems}) from None
    except ValueError as exc:
        raise HTTPException(422, {"problems": [str(exc)]}) from None
    return {"reports": [r.as_dict() for r in reports]}
