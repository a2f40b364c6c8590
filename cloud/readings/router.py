"""HTTP endpoint of a patient's reading history, raw or in time buckets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from cloud.api.deps import ClinicalUser, SessionDep, StoreDep
from cloud.db import utcnow
from cloud.readings import service
from cloud.readings.aggregate import IntervalError, aggregate, parse_every
from cloud.readings.schemas import BucketRead, FieldStatsRead, ReadingKind, ReadingRead

router = APIRouter(prefix="/api/v1/patients", tags=["readings"])


@router.get("/{patient_id}/readings", response_model=list[ReadingRead] | list[BucketRead])
def read_history(
    patient_id: int,
    session: SessionDep,
    store: StoreDep,
    user: ClinicalUser,
    kind: ReadingKind | None = None,
    since: Annotated[
        str | None, Query(description="ISO 8601 with offset; default until - 7 days")
    ] = None,
    until: Annotated[str | None, Query(description="ISO 8601 with offset; default now")] = None,
    every: Annotated[
        str | None, Query(description="bucket width, e.g. 15m, 1h, 1d (>= 1m); omit for raw")
    ] = None,
) -> list[ReadingRead] | list[BucketRead]:
    """A patient's readings in [since, until) (admin, nurse); at most 400 days; audited."""
    try:
        window = service.resolve_window(
            since=service.parse_time(since, "since") if since is not None else None,
            until=service.parse_time(until, "until") if until is not None else None,
            now=utcnow(),
        )
        interval = parse_every(every) if every is not None else None
    except (service.HistoryQueryError, IntervalError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    points = service.history(
        session,
        store,
        patient_id=patient_id,
        since=window[0],
        until=window[1],
        kind=kind.value if kind is not None else None,
        actor=user.username,
        every=every,
    )
    if interval is None:
        return [
            ReadingRead(
                gateway_id=p.gateway_id,
                device_id=p.device_id,
                seq=p.seq,
                kind=ReadingKind(p.kind),
                measured_at=p.measured_at,
                values=p.values,
            )
            for p in points
        ]
    return [
        BucketRead(
            start=b.start,
            kind=ReadingKind(b.kind),
            count=b.count,
            fields={
                name: FieldStatsRead(min=s.min, mean=s.mean, max=s.max)
                for name, s in b.fields.items()
            },
        )
        for b in aggregate(points, interval)
    ]
