"""Start the product's services as real OS processes, as an operator would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.faults.proxy import TcpProxy
from tests.support import free_port


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL the service and everything it started (its training child too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start(
    command: str, env: dict[str, str], logs: Path, timeout: float = 60, port: int | None = None
) -> Service:
    """Run `mlops <command>` on a free port (or the one given, to restart a service in place)
    and wait until its /health answers."""
    port = port or free_port()
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{command}-{port}.log"
    full_env = {
        **os.environ,
        **env,
        "MLOPS_PORT": str(port),
        "MLOPS_HOST": "127.0.0.1",
        "MLOPS_LOG_JSON": "false",
    }
    with log.open("ab") as sink:  # a service restarted on its port keeps its earlier log
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", command],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(command, port, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{command} exited with {process.returncode}:\n{service.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{service.url}/health", timeout=2).status_code < 600:
                return service
        time.sleep(0.3)
    service.kill()
    raise AssertionError(f"{command} did not answer within {timeout} s:\n{service.output()}")


def distributed_env(root: Path, amqp_url: str, postgres_url: str) -> dict[str, str]:
    """Settings for the services as separate processes sharing one broker, database and data
    folder, with queues of their own on the shared broker (delete its namespace afterwards)."""
    return {
        "MLOPS_DATA_DIR": str(root / "shared"),
        "MLOPS_BROKER_URL": amqp_url,
        "MLOPS_DATABASE_URL": postgres_url,
        "MLOPS_BUS_NAMESPACE": f"e2e-{uuid.uuid4().hex[:8]}",
        "MLOPS_SECRET_KEY": uuid.uuid4().hex,
        "MLOPS_METRICS_INTERVAL_S": "1",
        "MLOPS_HEARTBEAT_INTERVAL_S": "1",
    }


def start_all(env: dict[str, str], logs: Path, services: list[Service]) -> Service:
    """Predictor, trainer, metrics and gateway as four processes; returns the gateway."""
    predictor = start("predictor", env, logs)
    services.extend([predictor, start("trainer", env, logs), start("metrics", env, logs)])
    services.append(start("gateway", gateway_env(env, predictor), logs))
    return services[-1]


def gateway_env(env: dict[str, str], predictor: Service) -> dict[str, str]:
    return {**env, "MLOPS_PREDICTOR_URL": predictor.url}


def wait_until(probe, timeout: float = 90, every: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")


class ProxyThread:
    """A switch between the services and RabbitMQ (tests/faults/proxy.py), for synchronous
    end-to-end tests: `up()` lets connections through, `down()` cuts them."""

    def __init__(self, amqp_url: str):
        self.proxy = TcpProxy.for_url(amqp_url, 5672)
        self.url = self.proxy.url(amqp_url)

    def up(self) -> None:
        self.proxy.restore()

    def down(self) -> None:
        self.proxy.cut()

    def close(self) -> None:
        self.proxy.close()
