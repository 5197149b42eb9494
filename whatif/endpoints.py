"""The what-if API for the committee: run one or two scenarios and get the figures back, inline or as a job
(started, then read for its progress and result from any API process)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.problems import Problem
from whatif.jobs import WhatIfJobs
from whatif.report import Report
from whatif.scenario import ScenarioInvalid
from whatif.service import run_inline

router = APIRouter(prefix="/api/v1/committee", tags=["what-if"])


class WhatIfIn(BaseModel):
    scenario: str = Field(description="Scenario YAML (see docs/simulator.md); partners are the hub's own")
    compare: str | None = Field(default=None, description="A second scenario, run with the same seed")
    seed: int | None = None


def _refused(exc: ScenarioInvalid | ValueError) -> Problem:
    """A scenario refused, the same for a run inline and a job: 422 ``scenario_invalid``, every problem listed."""
    problems = exc.problems if isinstance(exc, ScenarioInvalid) else [str(exc)]
    detail = problems[0] if problems else "the scenario was refused"
    return Problem(422, "scenario_invalid", detail, problems=problems)


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
            pool=hub.whatif_jobs.pool,  # the jobs' worker processes: not this process's GIL
        )
    except (ScenarioInvalid, ValueError) as exc:
        raise _refused(exc) from None
    return {"reports": [r.as_dict() for r in reports]}


def _reports(reports: list[Report]) -> dict[str, Any]:
    return {"reports": [r.as_dict() for r in reports]}


@router.post(
    "/whatif/jobs",
    status_code=202,
    summary="Start a what-if; read its progress and result at the address in Location",
)
async def start_whatif_job(
    body: WhatIfIn, request: Request, principal: Principal = Depends(require("committee"))
) -> JSONResponse:
    hub = request.app.state.hub
    jobs: WhatIfJobs = hub.whatif_jobs
    texts = [body.scenario] + ([body.compare] if body.compare else [])
    try:
        job_id = await jobs.start(
            texts,
            catalogue=await hub.catalogue.get(),
            sessionmaker=hub.sessionmaker,
            seed=body.seed,
            who=principal,
            finish=_reports,
        )
    except (ScenarioInvalid, ValueError) as exc:
        raise _refused(exc) from None
    href = f"/api/v1/committee/whatif/jobs/{job_id}"
    return JSONResponse({"id": job_id, "status": "running", "href": href}, 202, headers={"Location": href})


@router.get(
    "/whatif/jobs/{job_id}",
    summary="A what-if job: its progress while it runs, then its reports (done) or its problem (failed)",
)
async def read_whatif_job(
    job_id: str, request: Request, principal: Principal = Depends(require("committee"))
) -> dict[str, Any]:
    jobs: WhatIfJobs = request.app.state.hub.whatif_jobs
    state = await jobs.read(job_id, principal)
    if state is None:
        raise Problem(404, "not_found", "no what-if job with that id (finished ones are kept an hour)")
    return public_view(state)


def public_view(state: dict[str, Any]) -> dict[str, Any]:
    """What a reader sees of a job: its progress, then the result or the problem (not whose it is)."""
    shown = {k: state[k] for k in ("id", "status", "percent", "scenario", "contacts", "simulated_ms")}
    period = state["scenarios"][state["scenario"]]
    shown["scenarios"] = [p["name"] for p in state["scenarios"]]
    shown["simulated_until"] = _until(period["start"], state["simulated_ms"])
    if state["status"] == "done":
        shown |= state["result"]
    if state["status"] == "failed":
        shown["problem"] = state["problem"]
    return shown


def _until(start: str, simulated_ms: int) -> str:
    return (datetime.fromisoformat(start) + timedelta(milliseconds=simulated_ms)).isoformat()
