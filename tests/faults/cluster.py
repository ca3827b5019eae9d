"""The product as an operator runs it, shared by the fault tests: a gateway, two trainers and
two predictors as OS processes, reaching RabbitMQ and PostgreSQL through proxies the tests
switch. Between tests `ready()` puts back what a test broke (proxies, killed services)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from services.gateway.adapters.database import normalize_url
from tests.e2e.flow import upload_and_train
from tests.e2e.processes import Service, distributed_env, start, wait_until
from tests.faults.invariants import Invariants
from tests.faults.proxy import TcpProxy
from tests.support import churn_csv, free_port

# Timers sped up so faults are noticed and repaired in seconds, not minutes.
FAST_TIMERS = {
    "MLOPS_HEARTBEAT_INTERVAL_S": "1",
    "MLOPS_METRICS_INTERVAL_S": "1",
    "MLOPS_RECONCILE_INTERVAL_S": "2",
}
TRAINERS = 2
PREDICTORS = 2
ROW = {"tenure_months": 2, "monthly_charges": 99.5, "plan": "basic"}
"""A row the churn model (tests/support.py churn_csv) answers."""


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server, dropped afterwards."""
    name = f"mlops_faults_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Cluster:
    root: Path
    amqp_url: str
    """RabbitMQ itself; the services reach it through `broker`."""
    database_url: str
    """PostgreSQL itself; the gateway reaches it through `database`."""
    broker: TcpProxy = field(init=False)
    database: TcpProxy = field(init=False)
    env: dict[str, str] = field(init=False)
    check: Invariants = field(init=False)
    gateway: Service | None = None
    trainers: list[Service] = field(default_factory=list)
    predictors: list[Service] = field(default_factory=list)
    _predictor_ports: list[int] = field(default_factory=list)
    _deployed: str | None = None

    def __post_init__(self) -> None:
        self.broker = TcpProxy.for_url(self.amqp_url, 5672)
        self.database = TcpProxy.for_url(self.database_url, 5432)
        self.env = {
            **distributed_env(
                self.root, self.broker.url(self.amqp_url), self.database.url(self.database_url)
            ),
            "MLOPS_BUS_NAMESPACE": f"faults-{uuid.uuid4().hex[:8]}",
            **FAST_TIMERS,
        }
        self._predictor_ports = [free_port() for _ in range(PREDICTORS)]
        self.check = Invariants(self.database_url, self.data_dir, self.amqp_url, self.namespace)

    @property
    def namespace(self) -> str:
        return self.env["MLOPS_BUS_NAMESPACE"]

    @property
    def data_dir(self) -> Path:
        return Path(self.env["MLOPS_DATA_DIR"])

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def api(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    @property
    def gateway_env(self) -> dict[str, str]:
        urls = ",".join(f"http://127.0.0.1:{port}" for port in self._predictor_ports)
        return {**self.env, "MLOPS_PREDICTOR_URL": urls}

    # -- starting and stopping -------------------------------------------------------------

    def ready(self) -> None:
        """Proxies open, every service running (killed ones started again, on the same port
        where others know it), and the gateway seeing its broker, database and storage."""
        self.broker.restore()
        self.database.restore()
        self.trainers = [t for t in self.trainers if t.process.poll() is None]
        missing_predictors = [
            port
            for port in self._predictor_ports
            if not any(p.port == port and p.process.poll() is None for p in self.predictors)
        ]
        self.predictors = [p for p in self.predictors if p.process.poll() is None]
        jobs: list[tuple[str, dict[str, str], int | None]] = [
            ("trainer", self.env, None) for _ in range(TRAINERS - len(self.trainers))
        ]
        jobs += [("predictor", self.env, port) for port in missing_predictors]
        gateway_port = self.gateway.port if self.gateway is not None else None
        if self.gateway is None or self.gateway.process.poll() is not None:
            jobs.append(("gateway", self.gateway_env, gateway_port))
        for service in self._start_many(jobs):
            if service.name == "gateway":
                self.gateway = service
            else:
                (self.trainers if service.name == "trainer" else self.predictors).append(service)
        self.wait_healthy()

    def wait_healthy(self, within: float = 60) -> None:
        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                parts = httpx.get(f"{self.url}/health", timeout=5).json()["components"]
                return all(parts.get(k) == "ok" for k in ("database", "broker", "storage"))
            return False

        wait_until(healthy, within, every=0.3)

    def _start_many(self, jobs: list[tuple[str, dict[str, str], int | None]]) -> list[Service]:
        """Start services side by side (each takes seconds to import its libraries)."""
        if not jobs:
            return []
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [
                pool.submit(start, name, env, self.logs, 90, port) for name, env, port in jobs
            ]
        started, errors = [], []
        for future in futures:
            try:
                started.append(future.result())
            except Exception as exc:
                errors.append(exc)
        if errors:
            for service in started:
                service.kill()
            raise errors[0]
        return started

    def restart_gateway(self) -> Service:
        assert self.gateway is not None
        self.gateway = start("gateway", self.gateway_env, self.logs, 90, self.gateway.port)
        return self.gateway

    def stop(self) -> None:
        for service in [*self.trainers, *self.predictors, self.gateway]:
            if service is not None:
                service.stop()
        self.broker.close()
        self.database.close()
        self.check.close()

    # -- what the tests do -----------------------------------------------------------------

    def train(self, api: httpx.Client, budget: int = 5, rows: int = 300) -> tuple[str, str]:
        """Upload a small churn table and ask for training; (job id, its reserved model id)."""
        job = upload_and_train(api, churn_csv(rows), budget=budget)
        return job["id"], self.check.job(job["id"]).model_id

    def wait_running(self, api: httpx.Client, job_id: str, within: float = 60) -> Service:
        """Wait until a trainer reports training the job (its /health lists it); that trainer."""

        def trainer() -> Service | None:
            for service in self.trainers:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    if job_id in httpx.get(f"{service.url}/health", timeout=5).json()["jobs"]:
                        return service
            return None

        return wait_until(trainer, within, every=0.1)

    def deployed_model(self) -> str:
        """A model trained and switched on once, for the tests that need predictions."""
        if self._deployed is None:
            with self.api() as api:
                job_id, model_id = self.train(api, budget=5)
                done = self.check.wait_final([job_id], 120)[job_id]
                assert done.status == "succeeded", done.error
                answer = api.post(f"/api/models/{model_id}/deploy")
                assert answer.status_code == 200, answer.text
            self._deployed = model_id
        return self._deployed


def freeze(service: Service) -> None:
    """Stop the service's main process where it stands (SIGSTOP), leaving its children (the
    training child) running: it can neither publish nor acknowledge anything until killed."""
    os.kill(service.process.pid, signal.SIGSTOP)


def wait_for_file(path: Path, within: float = 60) -> float:
    """Poll for a file to appear, as fast as a thread can; returns when it did (monotonic)."""
    deadline = time.monotonic() + within
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {within:g} s")
        time.sleep(0.002)
    return time.monotonic()
