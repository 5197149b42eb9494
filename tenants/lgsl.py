"""The Local Government Service List (LGSL), shipped with the package so the hub needs nothing else at run time.

``tenants/data/lgsl.csv`` is a copy of the project's reference list (code, label, status, description; Open
Government Licence v3.0, via mySociety). Every catalogue service names an LGSL code from it, and everywhere a
service is shown its standard name can be shown beside the partner's own.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class LgslEntry:
    code: int
    label: str
    status: str  # Live or Discontinued

    @property
    def live(self) -> bool:
        return self.status.lower() == "live"


@lru_cache(maxsize=1)
def lgsl_list() -> dict[int, LgslEntry]:
    text = resources.files("tenants").joinpath("data/lgsl.csv").read_text(encoding="utf-8")
    return {
        int(row["code"]): LgslEntry(int(row["code"]), row["label"].strip(), row["status"].strip())
        for row in csv.DictReader(io.StringIO(text))
        if row.get("code", "").strip().isdigit()
    }


def lgsl_entry(code: int | None) -> LgslEntry | None:
    return lgsl_list().get(code) if code is not None else None
