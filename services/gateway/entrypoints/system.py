"""Routes for the system: settings, activity, health, machine metrics, live updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import JSONResponse

from services.gateway.entrypoints.deps import GatewayDep, run
from services.gateway.handlers import activity
from services.gateway.handlers import settings as user_settings
from services.gateway.live import message
from services.gateway.schemas import ActivityList, Health, UserSettings

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

router = APIRouter()


@router.get("/api/settings", response_model=UserSettings)
async def get_settings(gw: GatewayDep) -> UserSettings:
    return await run(gw, lambda s: user_settings.load(s, gw.settings.default_time_budget_s))


@router.put("/api/settings", response_model=UserSettings)
async def put_settings(body: UserSettings, gw: GatewayDep) -> UserSettings:
    saved = await run(gw, lambda s: user_settings.save(s, body))
    gw.clean_up_now()  # a new "delete data older than" setting applies at once
    return saved


@router.get("/api/activity", response_model=ActivityList)
async def get_activity(gw: GatewayDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    rows = await run(gw, lambda s: activity.recent(s, limit))
    return {
        "items": [
            {c: getattr(a, c) for c in ("id", "kind", "message", "ref_id", "created_at")}
            for a in rows
        ]
    }


@router.get("/api/system", include_in_schema=True)
async def system(
    gw: GatewayDep, history: Annotated[bool, Query(description="false: leave it out")] = True
) -> dict[str, Any]:
    """The latest machine sample, recent history and live service counts (for Monitoring).
    Pages that poll for the counts ask for `history=false`: the history is most of the answer."""
    return {
        "metrics": gw.consumers.latest_metrics,
        "history": list(gw.consumers.metrics_history) if history else [],
        "instances": {
            name: gw.board.instances(name) for name in ("trainer", "predictor", "metrics")
        },
        "websocket_clients": gw.hub.client_count,
        "setup": setup(gw),
    }


def setup(gw: Gateway) -> dict[str, Any]:
    """Which database and message broker this gateway uses, and whether it sends emails: the
    Architecture page names them, the Settings page says whether an email will come."""
    url = gw.settings.resolved_database_url
    return {
        "database": "PostgreSQL" if url.startswith("postgres") else "SQLite",
        "broker": "RabbitMQ" if gw.settings.broker_url.startswith("amqp") else "in-process",
        "email": gw.settings.email_enabled,
    }


@router.get("/health", response_model=Health)
async def health(gw: GatewayDep) -> JSONResponse:
    answer = await gw.health()
    return JSONResponse(answer.model_dump(), status_code=503 if answer.status == "down" else 200)


@router.websocket("/ws")
async def live(socket: WebSocket) -> None:
    gw: Gateway = socket.app.state.gateway
    greeting = [message("health", await gw.health())]
    if gw.consumers.latest_metrics:
        greeting.append(message("metrics", gw.consumers.latest_metrics))
    await gw.hub.serve(socket, greeting)
