"""The user's saved settings (Settings page); the services obey them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.gateway.adapters.orm import SettingRow
from services.gateway.adapters.unit_of_work import collect
from services.gateway.domain.facts import SettingsSaved
from services.gateway.domain.schemas import UserSettings

_KEY = "user"


def load(session: Session, default_time_budget_s: int) -> UserSettings:
    row = session.get(SettingRow, _KEY)
    if row is None:
        return UserSettings(time_budget_s=default_time_budget_s)
    return UserSettings.model_validate(row.value)


def save(session: Session, new: UserSettings) -> UserSettings:
    row = session.get(SettingRow, _KEY)
    if row is None:
        session.add(SettingRow(key=_KEY, value=new.model_dump()))
    else:
        row.value = new.model_dump()
    collect(session, SettingsSaved())
    return new
