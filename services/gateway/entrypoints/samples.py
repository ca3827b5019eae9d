"""Routes for the sample CSVs: list them, download one, or start with one in a click."""

from __future__ import annotations

import asyncio
import shutil

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from services.gateway.domain.schemas import Dataset
from services.gateway.entrypoints.datasets import register
from services.gateway.entrypoints.deps import StoreDep, UowDep
from services.gateway.samples import SAMPLES, find

router = APIRouter()


class SampleInfo(BaseModel):
    name: str
    title: str
    about: str
    filename: str


class SampleList(BaseModel):
    items: list[SampleInfo]


@router.get("/api/samples", response_model=SampleList)
async def list_samples() -> SampleList:
    items = [
        SampleInfo(name=s.name, title=s.title, about=s.about, filename=s.filename) for s in SAMPLES
    ]
    return SampleList(items=items)


@router.get("/api/samples/{name}.csv", response_class=FileResponse)
async def download_sample(name: str) -> FileResponse:
    sample = find(name)
    return FileResponse(sample.path, media_type="text/csv", filename=sample.filename)


@router.post("/api/samples/{name}/use", status_code=201, response_model=Dataset)
async def use_sample(name: str, uow: UowDep, store: StoreDep) -> Dataset:
    """Upload a sample as if the user had: it becomes an ordinary dataset of their own."""
    sample = find(name)
    temp = store.temp_file()
    await asyncio.to_thread(shutil.copyfile, sample.path, temp)
    return await register(uow, store, temp, sample.filename, None)
