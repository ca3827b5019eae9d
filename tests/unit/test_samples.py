"""The sample CSVs: listed, downloadable, and usable in one click as an ordinary dataset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from services.gateway.samples import SAMPLES
from tests.support import running_product

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_product(
        data_dir=tmp_path, broker_url="memory://", database_url="", heartbeat_interval_s=0.5
    ) as client:
        yield client


async def test_samples_are_listed_and_downloadable(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/samples")).json()["items"]
    assert [s["name"] for s in listed] == [s.name for s in SAMPLES]
    for sample in listed:
        assert sample["title"].endswith("?") and sample["about"].endswith(".")
        response = await api.get(f"/api/samples/{sample['name']}.csv")
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/csv"
        )
        assert response.text.splitlines()[0].count(",") >= 4


async def test_each_sample_becomes_a_dataset_with_its_last_column_as_target(
    api: httpx.AsyncClient,
) -> None:
    for sample in SAMPLES:
        response = await api.post(f"/api/samples/{sample.name}/use")
        assert response.status_code == 201, response.text
        dataset = response.json()
        columns = list(pd.read_csv(sample.path, nrows=1).columns)
        assert dataset["name"] == sample.filename
        assert dataset["target"] == columns[-1]
        assert dataset["light"] in ("green", "yellow"), dataset["messages"]
    names = [d["name"] for d in (await api.get("/api/datasets")).json()["items"]]
    assert sorted(names) == sorted(s.filename for s in SAMPLES)
    preview = (await api.get(f"/api/datasets/{dataset['id']}/preview?rows=3")).json()
    assert len(preview["rows"]) == 3


async def test_an_unknown_sample_is_a_plain_404(api: httpx.AsyncClient) -> None:
    for response in (
        await api.post("/api/samples/nope/use"),
        await api.get("/api/samples/nope.csv"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "sample_not_found"
        assert "no sample" in response.json()["detail"]
