"""`mlops`: start the whole product in one process, or one service of it.

    mlops all        gateway + trainer + predictor + metrics in one process (the default set-up)
    mlops gateway    the HTTP API, WebSocket and dashboard
    mlops trainer    trains models from the job queue
    mlops predictor  answers predictions
    mlops metrics    samples the machine
    mlops migrate    brings the database schema up to date

Every setting comes from MLOPS_* environment variables (see README)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from services.common.bus import Bus, create_bus
from services.common.http_server import http_protocol
from services.common.lifecycle import Lifecycle, Service
from services.common.limits import BodyLimits, LimitBodies
from services.common.logs import configure_logging
from services.common.settings import Settings, load_settings
from services.common.storage import FileStore, load_secret

log = logging.getLogger("mlops")
COMMANDS = {
    "all": "run gateway, trainer, predictor and metrics in one process",
    "gateway": "run the HTTP API, WebSocket and dashboard",
    "trainer": "run a trainer consuming the job queue",
    "predictor": "run the prediction service",
    "metrics": "run the machine-metrics sampler",
    "migrate": "apply database migrations and exit",
}


def build(command: str, **overrides: Any) -> tuple[Bus, list[Service]]:
    """The bus plus the components a command runs; the first component's app is served.
    Each service reads its own settings from the environment; `overrides` win (tests)."""
    from services.gateway.entrypoints.service import create as gateway
    from services.gateway.settings import GatewaySettings
    from services.metrics.bootstrap import bootstrap as metrics
    from services.metrics.settings import MetricsSettings
    from services.predictor.bootstrap import bootstrap as predictor
    from services.trainer.bootstrap import bootstrap as trainer
    from services.trainer.settings import TrainerSettings

    settings = load_settings(Settings, **overrides)
    gateway_settings = load_settings(GatewaySettings, **overrides)
    metrics_settings = load_settings(MetricsSettings, **overrides)
    trainer_settings = load_settings(TrainerSettings, **overrides)
    bus = create_bus(
        settings.broker_url,
        namespace=settings.bus_namespace,
        retry_window_s=settings.retry_window_s,
    )
    secret = load_secret(settings.data_dir, settings.secret_key)
    store = FileStore(settings.data_dir, secret)
    if command == "all":
        pred = predictor(settings, bus, store)
        # One process: the gateway reaches the predictor's app directly, without a socket.
        in_process = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=pred.app), base_url="http://predictor"
        )
        gw = gateway(gateway_settings, bus, store, in_process)
        return bus, [
            gw,
            pred,
            trainer(trainer_settings, bus, store, secret),
            metrics(metrics_settings, bus),
        ]
    single: dict[str, Callable[[], Service]] = {
        "gateway": lambda: gateway(gateway_settings, bus, store),
        "trainer": lambda: trainer(trainer_settings, bus, store, secret),
        "predictor": lambda: predictor(settings, bus, store),
        "metrics": lambda: metrics(metrics_settings, bus),
    }
    return bus, [single[command]()]


async def serve(command: str, settings: Settings) -> None:
    bus, components = build(command)
    await bus.start()
    everything = Lifecycle(command, *components, stop_timeout_s=30)
    try:
        await everything.start()
        config = server_config(command, components[0].app, settings)
        where = f"http://{settings.host}:{settings.port}"
        log.info(
            "%s is ready: open %s in your browser"
            if command in ("all", "gateway")
            else "%s is ready at %s",
            command,
            where,
        )
        await uvicorn.Server(config).serve()
    finally:
        await everything.stop()
        await bus.close()


def server_config(command: str, app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """How a service's HTTP server treats its clients, all in one place: bodies limited in size
    and time (services/common/limits.py), request heads timed (uvicorn has no such option:
    services/common/http_server.py), idle keep-alive connections closed after 5 s, header
    sizes and connections bounded (past max_connections uvicorn answers 503 at once)."""
    max_json_kb = settings.predictor_max_json_kb if command == "predictor" else settings.max_json_kb
    limits = BodyLimits(
        max_bytes=max_json_kb * 1024,
        timeout_s=settings.body_timeout_s,
        min_bytes_per_s=settings.body_min_kb_per_s * 1024,
    )
    return uvicorn.Config(
        LimitBodies(app, limits),
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="off",
        ws_ping_interval=None,
        timeout_graceful_shutdown=5,
        http=http_protocol(settings.head_timeout_s, max_head_bytes=64 * 1024),
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
    )


def migrate_only() -> None:
    from services.gateway.adapters.database import make_engine, migrate
    from services.gateway.settings import GatewaySettings

    engine = make_engine(load_settings(GatewaySettings).resolved_database_url)
    migrate(engine)
    engine.dispose()
    log.info("database is up to date")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        commands.add_parser(name, help=summary, description=summary)
    args = parser.parse_args(argv)
    settings: Settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, args.command)
    if args.command == "migrate":
        migrate_only()
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.command, settings))


if __name__ == "__main__":
    main()
