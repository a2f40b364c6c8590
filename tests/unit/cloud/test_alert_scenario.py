"""A day on the cardiology ward replayed reading by reading, with the scheduler ticking every
five minutes: exactly the alerts a clinician would expect, no more.

* Mr Hu (hypertensive): a morning crisis, re-measured a little lower, then controlled.
* Mrs Li (insulin-treated diabetes): a fast fall into level-2 hypoglycaemia after lunch,
  treated, and a high bedtime value; a control-solution test in between.
* Ms Wu: a loose cuff, re-measured correctly; her glucose meter reports a low battery.
* Mr Zhao: measures BP daily at 07:00 but forgets today until 10:00 (stale, then resolved).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cloud.alerts import service as alerts
from cloud.db import transaction
from cloud.oncall.scheduler import run_scheduler_once
from protocol.envelope import BloodPressureStatus, SensorAnnunciation
from tests.unit.cloud.test_alert_engine import T0, World, make_world


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return T0 + timedelta(hours=int(hours), minutes=int(minutes))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'scenario.db'}")
    yield w
    w.engine.dispose()


def test_a_day_on_the_ward(world: World) -> None:
    hu = world.patient("HU", kinds=("blood_pressure",))
    li = world.patient("LI", kinds=("glucose",))
    wu = world.patient("WU")
    zhao = world.patient("ZHAO", kinds=("blood_pressure",))
    owner = {"HU": hu, "LI": li, "WU": wu, "ZHAO": zhao}
    # Yesterday's last readings, so that nobody starts the day "stale".
    yesterday = T0 - timedelta(hours=17)  # 07:00 the day before
    world.evaluate(
        [(world.bp("HU", yesterday, 150, 92), hu), (world.bp("ZHAO", yesterday, 135, 85), zhao),
         (world.bp("WU", yesterday, 128, 80), wu),
         (world.glucose("LI", T0 - timedelta(hours=2), 7.0), li),
         (world.glucose("WU", T0 - timedelta(hours=2), 6.0), wu)],
        yesterday,
    )  # fmt: skip
    low_battery = frozenset({SensorAnnunciation.BATTERY_LOW})
    day = [
        ("06:55", world.glucose("WU", at("06:55"), 5.8)),
        ("07:00", world.bp("HU", at("07:00"), 186, 104)),  # crisis (critical)
        ("07:02", world.glucose("LI", at("07:02"), 6.4)),
        ("07:05", world.bp("HU", at("07:05"), 176, 98)),  # high (warning); crisis clearing
        (
            "07:30",
            world.bp("WU", at("07:30"), 122, 79, status=BloodPressureStatus(cuff_too_loose=True)),
        ),  # fmt: skip
        ("07:33", world.bp("WU", at("07:33"), 124, 80)),  # re-measured: device alert resolves
        ("07:40", world.bp("HU", at("07:40"), 152, 92)),  # crisis resolves (35 min in range)
        ("10:00", world.bp("ZHAO", at("10:00"), 138, 86)),  # late: resolves the stale alert
        ("10:10", world.glucose("LI", at("10:10"), 1.9, sample_type="control_solution")),
        ("11:30", world.glucose("LI", at("11:30"), 9.8)),
        ("12:00", world.glucose("WU", at("12:00"), 6.1, annunciations=low_battery)),
        ("13:00", world.glucose("LI", at("13:00"), 6.0)),
        ("13:45", world.glucose("LI", at("13:45"), 3.5)),  # level 1 + falling 3.3/h
        ("14:00", world.glucose("LI", at("14:00"), 2.8)),  # level 2 (critical), falling 2.8/h
        ("14:20", world.glucose("LI", at("14:20"), 4.5)),  # treated
        ("15:00", world.glucose("LI", at("15:00"), 6.5)),  # all three resolve
        ("18:00", world.glucose("WU", at("18:00"), 6.3, annunciations=low_battery)),
        ("19:00", world.bp("HU", at("19:00"), 148, 90)),  # high resolves
        ("19:00", world.glucose("LI", at("19:00"), 8.0)),
        ("21:30", world.glucose("LI", at("21:30"), 15.2)),  # bedtime high, stays open
        ("23:55", world.glucose("WU", at("23:55"), 6.0, annunciations=low_battery)),
    ]
    tick = T0
    for when, reading in day:
        moment = at(when)
        while tick <= moment:  # the scheduler runs every five minutes
            run_scheduler_once(world.sessions, tick)
            tick += timedelta(minutes=5)
        mrn = reading.device_id.split("-")[0].upper()
        world.evaluate([(reading, owner[mrn])], moment + timedelta(seconds=2))
    while tick <= T0 + timedelta(hours=24):
        run_scheduler_once(world.sessions, tick)
        tick += timedelta(minutes=5)

    names = {hu: "hu", li: "li", wu: "wu", zhao: "zhao"}
    got = sorted(
        (names[a.patient_id], a.rule_id, a.severity, a.state, a.auto_resolved, a.readings_count)
        for a in world.alerts()
    )
    assert got == sorted(
        [
            ("hu", "bp.crisis", "critical", "resolved", True, 1),
            ("hu", "bp.high", "warning", "resolved", True, 1),
            ("li", "glucose.falling_fast", "warning", "resolved", True, 1),
            ("li", "glucose.level1_low", "warning", "resolved", True, 1),
            ("li", "glucose.level2_low", "critical", "resolved", True, 1),
            ("li", "glucose.high", "warning", "open", False, 1),
            ("wu", "device.bp_cuff_loose", "info", "resolved", True, 1),
            ("wu", "device.battery_low", "info", "open", False, 3),
            ("zhao", "stale.blood_pressure", "warning", "resolved", True, 0),
        ]
    )
    by_rule = {(names[a.patient_id], a.rule_id): a for a in world.alerts()}
    assert by_rule["hu", "bp.crisis"].resolved_at == at("07:40")
    assert by_rule["zhao", "stale.blood_pressure"].opened_at == at("09:05")  # 07:00 + 26 h
    assert by_rule["li", "glucose.level2_low"].resolved_at == at("15:00")


def test_clinician_acknowledgement_during_the_day(world: World) -> None:
    hu = world.patient("HU", kinds=("blood_pressure",))
    world.evaluate([(world.bp("HU", at("07:00"), 186, 104), hu)], at("07:00"))
    (alert,) = world.alerts()
    with transaction(world.sessions) as session:
        alerts.acknowledge(
            session, alert_id=alert.id, actor="ann", note="rang patient", now=at("07:03")
        )
    later = run_scheduler_once(world.sessions, at("07:30"))
    assert later.escalations == []
    world.evaluate([(world.bp("HU", at("08:00"), 190, 100), hu)], at("08:00"))
    (alert,) = world.alerts()
    assert (alert.state, alert.readings_count, alert.acknowledged_by) == ("acknowledged", 2, "ann")
