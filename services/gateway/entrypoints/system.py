"""Routes for the system: settings, activity, health, machine metrics, live updates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket

from services.gateway.adapters.live import message
from services.gateway.domain.schemas import Activity, ActivityList, UserSettings
from services.gateway.domain.status import SERVICES
from services.gateway.entrypoints.deps import (
    BoardDep,
    CleanerDep,
    HealthDep,
    HubDep,
    ReadingsDep,
    SettingsDep,
    UowDep,
)
from services.gateway.handlers import activity, system
from services.gateway.handlers import settings as user_settings

router = APIRouter()


@router.get("/api/settings", response_model=UserSettings)
async def get_settings(uow: UowDep, settings: SettingsDep) -> UserSettings:
    return await uow.run(lambda s: user_settings.load(s, settings.default_time_budget_s))


@router.put("/api/settings", response_model=UserSettings)
async def put_settings(body: UserSettings, uow: UowDep, cleaner: CleanerDep) -> UserSettings:
    saved = await uow.run(lambda s: user_settings.save(s, body))
    cleaner.wake()  # a new "delete data older than" setting applies at once
    return saved


@router.get("/api/activity", response_model=ActivityList)
async def get_activity(
    uow: UowDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> ActivityList:
    rows = await uow.run(
        lambda s: [
            Activity.model_validate(a, from_attributes=True) for a in activity.recent(s, limit)
        ]
    )
    return ActivityList(items=rows)


@router.get("/api/system", include_in_schema=True)
async def system_now(
    readings: ReadingsDep,
    board: BoardDep,
    hub: HubDep,
    settings: SettingsDep,
    history: Annotated[bool, Query(description="false: leave it out")] = True,
) -> dict[str, Any]:
    """The latest machine sample, recent history and live service counts (for Monitoring).
    Pages that poll for the counts ask for `history=false`: the history is most of the answer."""
    return {
        "metrics": readings.latest,
        "history": list(readings.history) if history else [],
        "instances": {name: board.instances(name) for name in SERVICES},
        "websocket_clients": hub.client_count,
        "setup": system.setup(settings),
    }


@router.websocket("/ws")
async def live(socket: WebSocket, hub: HubDep, readings: ReadingsDep, health: HealthDep) -> None:
    greeting = [message("health", health)]
    if readings.latest:
        greeting.append(message("metrics", readings.latest))
    await hub.serve(socket, greeting)
