"""Routes for datasets: upload (streamed), list, read, preview, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.gateway.entrypoints.deps import MULTIPART_DOC, GatewayDep, receive_csv, run
from services.gateway.handlers import datasets
from services.gateway.schemas import Dataset, DatasetList, Preview

if TYPE_CHECKING:
    from services.gateway.bootstrap import Gateway

router = APIRouter()


@router.post("/api/datasets", status_code=201, response_model=Dataset, openapi_extra=MULTIPART_DOC)
async def upload_dataset(request: Request, gw: GatewayDep) -> Dataset:
    upload = await receive_csv(request, gw)
    return await register(gw, upload.path, upload.filename, upload.fields.get("target") or None)


async def register(gw: Gateway, temp: Path, filename: str, target: str | None) -> Dataset:
    """Keep a received CSV (a temporary file, moved in or removed) as a dataset and say so live."""
    try:
        row = await run(gw, lambda s: datasets.register(s, gw.store, temp, filename, target))
    finally:
        await asyncio.to_thread(temp.unlink, missing_ok=True)  # gone already if it was kept
    gw.hub.broadcast(
        "activity",
        {"kind": "dataset", "message": f"'{row.name}' was uploaded.", "ref_id": row.id},
    )
    return Dataset.of(row)


@router.get("/api/datasets", response_model=DatasetList)
async def list_datasets(gw: GatewayDep) -> DatasetList:
    return DatasetList(items=await run(gw, lambda s: [Dataset.of(d) for d in datasets.list_all(s)]))


@router.get("/api/datasets/{dataset_id}", response_model=Dataset)
async def get_dataset(dataset_id: str, gw: GatewayDep) -> Dataset:
    return await run(gw, lambda s: Dataset.of(datasets.get(s, dataset_id)))


@router.delete("/api/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: str, gw: GatewayDep) -> Response:
    path = await run(gw, lambda s: datasets.delete(s, dataset_id))
    await asyncio.to_thread(gw.store.delete, path)  # after the commit
    return Response(status_code=204)


@router.get("/api/datasets/{dataset_id}/preview", response_model=Preview)
async def preview_dataset(
    dataset_id: str, gw: GatewayDep, rows: Annotated[int, Query(ge=1, le=1000)] = 20
) -> Any:
    dataset = await run(gw, lambda s: datasets.get(s, dataset_id))
    return await asyncio.to_thread(datasets.preview, gw.store, dataset, rows)
