"""The committee's what-if page: edit a scenario (a past period replayed, rotas, agreements), compare two, and
weigh the service-level gain against what the change costs (overflow at the agreed rates, staff hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from hub.accounts.service import SignedIn
from hub.web.deps import PageError, check_csrf, hub_of, page_context, role
from hub.web.templating import render, templates
from plumbing.problems import Problem, problem_response
from whatif.report import ROWS, Report, chart_svg, comparison_rows, decision_change, decisions
from whatif.scenario import ScenarioInvalid
from whatif.service import starting_point

router = APIRouter(prefix="/committee/whatif", include_in_schema=False)
Committee = Depends(role("committee", "supervisor"))


@router.get("")
async def whatif_page(request: Request, user: SignedIn = Committee) -> Response:
    hub = hub_of(request)
    hub.whatif_jobs.pool.warm()  # the worker processes start while the member edits, not when they press Run
    catalogue = await hub.catalogue.get()
    async with hub.sessionmaker() as session:
        start = await starting_point(session, catalogue, hub.dispatcher.clock(), user)
    return render(
        request, "whatif.html", page_context(request, a=start.a, b=start.b, seed=1, source=start.source)
    )


@router.post("")
async def whatif_run(
    request: Request,
    user: SignedIn = Committee,
    a: str = Form(...),
    b: str = Form(""),
    seed: int = Form(1),
    csrf: str | None = Form(None),
) -> Response:
    """Start the run as a job and go to its page, which shows its progress and then the projection."""
    check_csrf(request, csrf)
    hub = hub_of(request)
    texts = [a] + ([b] if b.strip() else [])
    try:
        job_id = await hub.whatif_jobs.start(
            texts,
            catalogue=await hub.catalogue.get(),
            sessionmaker=hub.sessionmaker,
            seed=seed,
            who=user.principal,
            finish=_projection,
            keep={"a": a, "b": b, "seed": seed},
        )
    except Problem as exc:  # a replay of a partner this user may not read; too many runs at once
        context = page_context(request, a=a, b=b, seed=seed, problems=[exc.detail])
        return render(request, "whatif.html", context, status_code=exc.status)
    except (ScenarioInvalid, ValueError) as exc:
        problems = exc.problems if isinstance(exc, ScenarioInvalid) else [str(exc)]
        context = page_context(request, a=a, b=b, seed=seed, problems=problems)
        return render(request, "whatif.html", context, status_code=400)
    return RedirectResponse(f"/committee/whatif/jobs/{job_id}", status_code=303)


@router.get("/jobs/{job_id}")
async def whatif_job_page(request: Request, job_id: str, user: SignedIn = Committee) -> Response:
    """The scenarios as written, and the run's progress (the page polls it), its projection or its problem."""
    state = await hub_of(request).whatif_jobs.read(job_id, user.principal)
    html = (state or {}).get("result", {}).get("html")
    if state is None or (state["status"] == "done" and html is None):  # none, or one the API started
        raise PageError(404, "That what-if is not here: finished runs are kept for an hour. Run it again.")
    keep = state["keep"]
    view = _job_view(state)
    return render(
        request,
        "whatif.html",
        page_context(
            request,
            a=keep.get("a", ""),
            b=keep.get("b", ""),
            seed=keep.get("seed", 1),
            job=view,
            # rendered by this code (_projection), in whichever process ran the job
            result=Markup(html) if html is not None else None,
        ),
        status_code=200 if state["status"] != "failed" else int(state["problem"]["status"]),
    )


@router.get("/jobs/{job_id}/progress")
async def whatif_job_progress(request: Request, job_id: str, user: SignedIn = Committee) -> Response:
    """How far the run has got, for the page's bar: status, percent and a sentence."""
    state = await hub_of(request).whatif_jobs.read(job_id, user.principal)
    if state is None:
        return problem_response(
            404, "not_found", "no what-if job with that id (finished ones are kept an hour)"
        )
    view = _job_view(state)
    return JSONResponse(
        {"status": view["status"], "percent": view["percent"], "line": view["line"]},
        headers={"Cache-Control": "no-store"},
    )


def _job_view(state: dict[str, Any]) -> dict[str, Any]:
    period = state["scenarios"][state["scenario"]]
    until = datetime.fromisoformat(period["start"]) + timedelta(milliseconds=state["simulated_ms"])
    names = ["Scenario A", "Scenario B"]
    which = names[state["scenario"]] if len(state["scenarios"]) > 1 else "The scenario"
    line = (
        f"{which}: simulated to {until:%a %d %b %H:%M} (UTC), {state['contacts']:,} contacts so far"
        f" · {state['percent']:.0f} % of the run"
    )
    problem = state.get("problem") or {}
    return {
        "id": state["id"],
        "status": state["status"],
        "percent": state["percent"],
        "line": line,
        "problems": problem.get("problems") or [problem.get("detail", "")],
    }


def _projection(reports: list[Report]) -> dict[str, Any]:
    """The finished run's projection as HTML, rendered here so that any process can show it."""
    html = templates.get_template("_whatif_result.html").render(
        reports=reports,
        rows=comparison_rows(reports),
        chart=chart_svg(reports),  # inline SVG: the pages' content policy blocks data: images
        decisions=decisions(reports),
        change=decision_change(reports),
        summary=[line for r in reports for line in (_summary(r), *(f"{r.name}: {m}" for m in r.model))],
        figures=ROWS,
    )
    return {"html": html}


def _summary(r: Report) -> str:
    return f"{r.name}: {r.contacts:,} contacts simulated in {r.seconds:.1f} s (seed {r.seed})"
