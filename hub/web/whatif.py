"""The committee's what-if page: edit a scenario (a past period replayed, rotas, agreements), compare two, and
weigh the service-level gain against what the change costs (overflow at the agreed rates, staff hours)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.accounts.service import SignedIn
from hub.web.deps import check_csrf, hub_of, page_context, role
from hub.web.templating import render
from plumbing.problems import Problem
from whatif.report import ROWS, Report, chart_svg, comparison_rows, decision_change, decisions
from whatif.scenario import ScenarioInvalid
from whatif.service import run_inline, starting_point

router = APIRouter(prefix="/committee/whatif", include_in_schema=False)
Committee = Depends(role("committee", "supervisor"))


@router.get("")
async def whatif_page(request: Request, user: SignedIn = Committee) -> Response:
    hub = hub_of(request)
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
    check_csrf(request, csrf)
    hub = hub_of(request)
    texts = [a] + ([b] if b.strip() else [])
    try:
        reports = await run_inline(
            texts, catalogue=await hub.catalogue.get(), sessionmaker=hub.sessionmaker, seed=seed, who=user
        )
    except Problem as exc:  # a replay of a partner this user may not read
        context = page_context(request, a=a, b=b, seed=seed, problems=[exc.detail])
        return render(request, "whatif.html", context, status_code=exc.status)
    except (ScenarioInvalid, ValueError) as exc:
        problems = exc.problems if isinstance(exc, ScenarioInvalid) else [str(exc)]
        context = page_context(request, a=a, b=b, seed=seed, problems=problems)
        return render(request, "whatif.html", context, status_code=400)
    return render(
        request,
        "whatif.html",
        page_context(
            request,
            a=a,
            b=b,
            seed=seed,
            reports=reports,
            rows=comparison_rows(reports),
            chart=chart_svg(reports),  # inline SVG: the pages' content policy blocks data: images
            decisions=decisions(reports),
            change=decision_change(reports),
            summary=[line for r in reports for line in (_summary(r), *(f"{r.name}: {m}" for m in r.model))],
            figures=ROWS,
        ),
    )


def _summary(r: Report) -> str:
    return f"{r.name}: {r.contacts:,} contacts simulated in {r.seconds:.1f} s (seed {r.seed})"
