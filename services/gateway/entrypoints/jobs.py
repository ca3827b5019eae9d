"""Routes for training jobs: ask for one, follow it, cancel it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy.orm import Session

from services.gateway.domain.schemas import Job, JobList, JobRequest
from services.gateway.entrypoints.deps import SettingsDep, StoreDep, UowDep
from services.gateway.handlers import datasets, jobs
from services.gateway.handlers import settings as user_settings

router = APIRouter()


@router.post("/api/jobs", status_code=202, response_model=Job)
async def create_job(body: JobRequest, uow: UowDep, store: StoreDep, settings: SettingsDep) -> Job:
    dataset = await uow.run(lambda s: datasets.get(s, body.dataset_id))
    await asyncio.to_thread(jobs.check_target, store, dataset, body.target)

    def work(s: Session) -> Job:
        defaults = user_settings.load(s, settings.default_time_budget_s)
        return Job.of(jobs.create(s, body, defaults))

    return await uow.run(work)


@router.get("/api/jobs", response_model=JobList)
async def list_jobs(uow: UowDep) -> JobList:
    return JobList(items=await uow.run(lambda s: [Job.of(j) for j in jobs.list_all(s)]))


@router.get("/api/jobs/{job_id}", response_model=Job)
async def get_job(job_id: str, uow: UowDep) -> Job:
    return await uow.run(lambda s: Job.of(jobs.get(s, job_id)))


@router.post("/api/jobs/{job_id}/cancel", response_model=Job)
async def cancel_job(job_id: str, uow: UowDep) -> Job:
    return await uow.run(lambda s: Job.of(jobs.cancel(s, job_id)))
