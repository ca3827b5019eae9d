"""What every route needs: the gateway, a unit of work on a worker thread, CSV uploads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.common.errors import AppError, BadInput
from services.gateway.adapters.uploads import TooLarge, Upload, looks_like_csv, receive_upload

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

T = TypeVar("T")
MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "target": {
                            "type": "string",
                            "description": "Column to predict (default: the last)",
                        },
                    },
                }
            }
        },
    }
}


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated["Gateway", Depends(_gateway)]


async def run(gw: Gateway, work: Callable[[Session], T]) -> T:
    """Run a handler in one unit of work on a worker thread, then let the outbox publish."""

    def blocking() -> T:
        with gw.db.unit_of_work() as session:
            return work(session)

    result = await asyncio.to_thread(blocking)
    gw.relay.wake()
    return result


async def receive_csv(request: Request, gw: Gateway) -> Upload:
    """Stream an uploaded CSV to a temporary file; refuse what is too large or not a CSV."""
    limit, limit_mb = gw.settings.max_upload_bytes, gw.settings.max_upload_mb
    declared = request.headers.get("content-length", "")
    too_large = TooLarge(
        f"The file is larger than the {limit_mb} MB limit. Please upload a smaller file."
    )
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise too_large  # refused before reading a byte
    temp = gw.store.temp_file()
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""), request.stream(), temp, limit, limit_mb
        )
        with temp.open("rb") as handle:
            head = handle.read(8192)
        if not looks_like_csv(upload.filename, head):
            raise AppError(
                "That file is not a CSV. Please save your data as CSV and upload it again.",
                code="not_csv",
                status=415,
            )
        if upload.size == 0 or not head.strip():
            raise BadInput(
                "The file is empty. Please upload a CSV with a header row and some data.",
                code="bad_csv",
            )
        return upload
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
