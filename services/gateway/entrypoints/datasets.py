"""Routes for datasets: upload (streamed), list, read, preview, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.common.storage import FileStore
from services.gateway.adapters.unit_of_work import UnitOfWork
from services.gateway.domain.schemas import Dataset, DatasetList, Preview
from services.gateway.entrypoints.deps import (
    MULTIPART_DOC,
    SettingsDep,
    StoreDep,
    UowDep,
    receive_csv,
)
from services.gateway.handlers import datasets

router = APIRouter()


@router.post("/api/datasets", status_code=201, response_model=Dataset, openapi_extra=MULTIPART_DOC)
async def upload_dataset(
    request: Request, uow: UowDep, store: StoreDep, settings: SettingsDep
) -> Dataset:
    upload = await receive_csv(request, settings, store)
    return await register(uow, store, upload.path, upload.filename, upload.fields.get("target"))


async def register(
    uow: UnitOfWork, store: FileStore, temp: Path, filename: str, target: str | None
) -> Dataset:
    """Keep a received CSV (a temporary file, moved in or removed) as a dataset."""
    try:
        profile = await asyncio.to_thread(datasets.profile_upload, temp, target)
        return await uow.run(
            lambda s: Dataset.of(datasets.register(s, store, temp, filename, profile))
        )
    finally:
        await asyncio.to_thread(temp.unlink, missing_ok=True)  # gone already if it was kept


@router.get("/api/datasets", response_model=DatasetList)
async def list_datasets(uow: UowDep) -> DatasetList:
    return DatasetList(items=await uow.run(lambda s: [Dataset.of(d) for d in datasets.list_all(s)]))


@router.get("/api/datasets/{dataset_id}", response_model=Dataset)
async def get_dataset(dataset_id: str, uow: UowDep) -> Dataset:
    return await uow.run(lambda s: Dataset.of(datasets.get(s, dataset_id)))


@router.delete("/api/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: str, uow: UowDep, store: StoreDep) -> Response:
    path = await uow.run(lambda s: datasets.delete(s, dataset_id))
    await asyncio.to_thread(store.delete, path)  # after the commit
    return Response(status_code=204)


@router.get("/api/datasets/{dataset_id}/preview", response_model=Preview)
async def preview_dataset(
    dataset_id: str,
    uow: UowDep,
    store: StoreDep,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Any:
    dataset = await uow.run(lambda s: datasets.get(s, dataset_id))
    return await asyncio.to_thread(datasets.preview, store, dataset, rows)
