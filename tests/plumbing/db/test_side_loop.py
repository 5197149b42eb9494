"""The side loop's render process yields the CPU to the processes serving requests (plumbing/db/side_loop.py)."""

from __future__ import annotations

import os

from plumbing.db.side_loop import RENDER_NICENESS, SideLoop


async def test_the_render_process_runs_niced_below_the_hub() -> None:
    side_loop = SideLoop("sqlite+aiosqlite://")
    try:
        mine = os.nice(0)  # os.nice(0) reads the niceness without changing it
        theirs = await side_loop.compute(os.nice, 0)
    finally:
        await side_loop.close()
    # 10 added to this process's niceness (capped at 19, the lowest priority there is)
    assert RENDER_NICENESS == 10
    assert theirs == min(mine + 10, 19)
