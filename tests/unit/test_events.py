"""The event contracts: round trips, the envelope, and a schema snapshot that makes an
accidental contract change fail CI (regenerate deliberately with UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.common.events import (
    EVENT_TYPES,
    TrainingProgressed,
    TrainingRequested,
    UnknownEvent,
    parse_event,
)
from tests.support import metrics_sampled, training_requested

SNAPSHOT = Path(__file__).parent / "snapshots" / "events.schema.json"


def current_schema() -> dict:
    return {name: cls.model_json_schema() for name, cls in sorted(EVENT_TYPES.items())}


def test_schema_matches_the_checked_in_snapshot() -> None:
    schema = current_schema()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    assert json.loads(SNAPSHOT.read_text()) == schema, (
        "An event contract changed. Add optional fields only, or bump `version`; then refresh the "
        "snapshot with UPDATE_SNAPSHOTS=1."
    )


def test_round_trip_keeps_type_and_envelope() -> None:
    event = training_requested(1)
    message = json.loads(json.dumps(event.to_message()))
    assert message["type"] == "training.requested" and message["version"] == 1
    back = parse_event(message)
    assert back == event and isinstance(back, TrainingRequested)


def test_every_type_is_routed_by_its_name() -> None:
    assert all(cls.type == name for name, cls in EVENT_TYPES.items())
    assert len({cls.type for cls in EVENT_TYPES.values()}) == len(EVENT_TYPES)


def test_unknown_and_invalid_messages_are_refused() -> None:
    with pytest.raises(UnknownEvent):
        parse_event({"type": "nope"})
    with pytest.raises(ValidationError):
        parse_event({"type": "training.progress", "job_id": "j", "progress": 1.5, "stage": "x"})


def test_newer_producers_may_add_fields() -> None:
    sample = metrics_sampled()
    message = {**sample.to_message(), "gpu_percent": 50}
    assert parse_event(message) == sample
    assert TrainingProgressed(job_id="j", progress=0.5, stage="Training").eta_s is None
