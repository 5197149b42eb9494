"""CSV file drop: one file per delivery in a folder a legacy system picks up from.

Written to a hidden temporary name and renamed into place, so a reader never sees half a file; the name comes
from the idempotency key, so a delivery tried again after a crash finds its file there and does nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from adapters.base import Adapter, AdapterConfig, Delivery, DeliveryError, DeliveryResult

COLUMNS = (
    "reference",
    "type",
    "council",
    "service_code",
    "service_name",
    "lgsl",
    "channel",
    "received_at",
    "passed_at",
    "text",
    "notes",
    "customer_name",
    "customer_phone",
    "customer_email",
    "customer_uprn",
    "customer_address",
    "attributes",
    "idempotency_key",
)


class CsvDropConfig(AdapterConfig):
    folder: str = Field(min_length=1)
    encoding: str = "utf-8"
    # A folder that is not there is most likely a share not mounted yet: retried, not created here.
    create_folder: bool = False


class CsvDropAdapter(Adapter):
    name = "csv_drop"
    Config = CsvDropConfig
    config: CsvDropConfig

    def file_name(self, delivery: Delivery) -> str:
        stamp = delivery.created_at.strftime("%Y%m%dT%H%M%SZ")
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", delivery.idempotency_key)
        return f"{stamp}_{safe_key}.csv"

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        await asyncio.to_thread(self._write, delivery)
        return DeliveryResult()

    def _write(self, delivery: Delivery) -> None:
        folder = Path(self.config.folder)
        if self.config.create_folder:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise DeliveryError(f"csv_drop: folder {str(folder)!r} does not exist (share not mounted?)")
        target = folder / self.file_name(delivery)
        if target.exists():
            return  # delivered before (a crash between the rename and the commit): nothing to do
        temporary = folder / f".{target.name}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding=self.config.encoding, newline="") as handle:
                handle.write(render(delivery))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            raise DeliveryError(f"csv_drop: cannot write to {str(folder)!r}: {exc}") from None
        finally:
            temporary.unlink(missing_ok=True)


def render(delivery: Delivery) -> str:
    """A header line and one row."""
    case = delivery.payload
    customer: dict[str, Any] = case.get("customer") or {}
    row = {
        "reference": delivery.reference,
        "type": delivery.kind,
        "council": delivery.tenant,
        "service_code": delivery.service_code,
        "service_name": case.get("service_name", ""),
        "lgsl": case.get("lgsl") or "",
        "channel": case.get("channel", ""),
        "received_at": case.get("received_at", ""),
        "passed_at": case.get("passed_at", ""),
        "text": case.get("text") or "",
        "notes": case.get("notes") or "",
        **{f"customer_{k}": customer.get(k, "") for k in ("name", "phone", "email", "uprn", "address")},
        "attributes": json.dumps(case.get("attributes") or {}, sort_keys=True),
        "idempotency_key": delivery.idempotency_key,
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()
