"""`mlops all` as one OS process (in-process bus, SQLite): the default `make run` set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.flow import whole_flow
from tests.e2e.processes import start

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_whole_flow_in_one_process(tmp_path: Path) -> None:
    env = {
        "MLOPS_DATA_DIR": str(tmp_path / "data"),
        "MLOPS_BROKER_URL": "memory://",
        "MLOPS_DATABASE_URL": "",
        "MLOPS_METRICS_INTERVAL_S": "1",
        "MLOPS_HEARTBEAT_INTERVAL_S": "1",
    }
    service = start("all", env, tmp_path / "logs")
    try:
        whole_flow(service.url)
    finally:
        service.stop()
    assert service.process.returncode is not None
    assert (tmp_path / "data" / "mlops.db").exists()
