"""Typed dependencies for the routes (each asks for exactly the parts it uses), and receiving
an uploaded CSV. A new dependency, such as the signed-in user, is added here once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from services.common.admission import Admission
from services.common.background import Repeating
from services.common.bus import Bus
from services.common.errors import AppError, BadInput
from services.common.storage import FileStore
from services.gateway.adapters.live import LiveHub
from services.gateway.adapters.predictor_client import PredictorClient
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.adapters.uploads import TooLarge, Upload, looks_like_csv, receive_upload
from services.gateway.bootstrap import Gateway
from services.gateway.domain.schemas import Health
from services.gateway.domain.status import HealthBoard, MachineReadings
from services.gateway.handlers.models import SwitchedOn
from services.gateway.settings import GatewaySettings

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


def _part(take: Callable[[Gateway], T]) -> Callable[[HTTPConnection], T]:
    """A dependency handing a route one part of the gateway (built once, on `app.state`)."""

    def dependency(connection: HTTPConnection) -> T:
        return take(connection.app.state.gateway)

    return dependency


def _cleaner(connection: HTTPConnection) -> Repeating:
    cleaner: Repeating = connection.app.state.cleaner  # a timer, beside the gateway's parts
    return cleaner


async def _health(connection: HTTPConnection) -> Health:
    gateway: Gateway = connection.app.state.gateway
    return await gateway.health()


# What a route may ask for, each exactly what it uses (full-stack-fastapi-template's SessionDep).
BusDep = Annotated[Bus, Depends(_part(lambda g: g.bus))]
UowDep = Annotated[UnitOfWork, Depends(_part(lambda g: g.uow))]
SwitchedOnDep = Annotated[SwitchedOn, Depends(_part(lambda g: g.switched_on))]
AdmissionDep = Annotated[Admission, Depends(_part(lambda g: g.admission))]
"""`async with admission.turn():` around a prediction: 503 busy at once when too many wait."""
"""A unit of work: `await uow.run(lambda session: handler(session, ...))`."""
StoreDep = Annotated[FileStore, Depends(_part(lambda g: g.store))]
SettingsDep = Annotated[GatewaySettings, Depends(_part(lambda g: g.settings))]
HubDep = Annotated[LiveHub, Depends(_part(lambda g: g.hub))]
PredictorDep = Annotated[PredictorClient, Depends(_part(lambda g: g.predictor))]
BoardDep = Annotated[HealthBoard, Depends(_part(lambda g: g.board))]
ReadingsDep = Annotated[MachineReadings, Depends(_part(lambda g: g.readings))]
CleanerDep = Annotated[Repeating, Depends(_cleaner)]
"""The clean-up loop: `wake()` it to apply a new setting at once."""
HealthDep = Annotated[Health, Depends(_health)]
"""The gateway's health, checked for this request."""


async def receive_csv(request: Request, settings: GatewaySettings, store: FileStore) -> Upload:
    """Stream an uploaded CSV to a temporary file; refuse what is too large or not a CSV."""
    limit, limit_mb = settings.max_upload_bytes, settings.max_upload_mb
    declared = request.headers.get("content-length", "")
    too_large = TooLarge(
        f"The file is larger than the {limit_mb} MB limit. Please upload a smaller file."
    )
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise too_large  # refused before reading a byte
    temp = store.temp_file()
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
