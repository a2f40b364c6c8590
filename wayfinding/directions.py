"""Turn-by-turn directions in English and Chinese ("50 m ahead, turn left: Radiology").

A route's nodes are walked segment by segment; headings that change by less than
``STRAIGHT_DEG`` are merged into one straight run, larger changes become a turn announced with the
distance walked before it. The last turn names the destination. Lifts and stairs are steps of
their own; after one, "ahead" is the direction of the first segment (leaving the lift car). When a
route starts at a kiosk whose ``facing_deg`` is known, a first step turns the reader towards it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wayfinding.geometry import Point, heading_deg, turn_deg
from wayfinding.model import Edge, HospitalMap, Name, Node

STRAIGHT_DEG = 30.0
AROUND_DEG = 150.0

_TURN_EN = {"left": "turn left", "right": "turn right", "around": "turn around"}
_TURN_ZH = {"left": "左转", "right": "右转", "around": "掉头"}
_FACE_EN = {"left": "Turn left", "right": "Turn right", "around": "Turn around"}
_FACE_ZH = {"left": "向左转", "right": "向右转", "around": "向后转"}


@dataclass(frozen=True)
class Step:
    """One instruction: ``kind`` is face, turn, lift, stairs or arrive.

    ``distance_m`` is the walk before the action (0 for face, lift and stairs), ``turn`` left,
    right or around for face/turn steps, ``floor``/``at`` where the action happens.
    """

    kind: str
    distance_m: float
    turn: str | None
    floor: str
    at: Point
    text: Name


def spoken_distance(metres: float) -> int:
    """Distance as announced: whole metres below 20 m, then steps of 5 m (never 0)."""
    if metres < 20:
        return max(1, round(metres))
    return int(5 * round(metres / 5))


def _turn_name(delta: float) -> str | None:
    if abs(delta) < STRAIGHT_DEG:
        return None
    if abs(delta) >= AROUND_DEG:
        return "around"
    return "left" if delta > 0 else "right"


def _turn_text(distance: float, turn: str, destination: Name | None) -> Name:
    d = spoken_distance(distance)
    en = f"{d} m ahead, {_TURN_EN[turn]}"
    zh = f"前方{d}米{_TURN_ZH[turn]}"
    if destination is not None:
        en, zh = f"{en}: {destination.en}", f"{zh}：{destination.zh}"
    return Name(en=en, zh=zh)


def _arrive_text(distance: float, destination: Name) -> Name:
    if distance < 1:
        return Name(en=f"You are at {destination.en}", zh=f"您已到达{destination.zh}")
    d = spoken_distance(distance)
    return Name(en=f"{d} m ahead: {destination.en}", zh=f"前方{d}米到达：{destination.zh}")


def _vertical_text(hospital: HospitalMap, edge: Edge, start: str, end: str) -> Name:
    to = hospital.floor(end).name
    if edge.kind == "lift":
        return Name(en=f"Take the lift to {to.en}", zh=f"乘电梯到{to.zh}")
    up = hospital.floor(end).level > hospital.floor(start).level
    return Name(
        en=f"Take the stairs {'up' if up else 'down'} to {to.en}",
        zh=f"走楼梯{'上' if up else '下'}到{to.zh}",
    )


def directions(
    hospital: HospitalMap,
    path: list[str],
    edges: list[Edge],
    destination: Name,
    *,
    facing_deg: float | None = None,
) -> list[Step]:
    """The steps of walking ``path`` (node ids, ``edges`` between them) to ``destination``."""
    nodes = [hospital.node(node_id) for node_id in path]
    steps: list[Step] = []
    walked = 0.0
    heading: float | None = facing_deg
    for i, edge in enumerate(edges):
        a, b = nodes[i], nodes[i + 1]
        if edge.vertical:
            steps.append(
                Step(
                    edge.kind,
                    0.0,
                    None,
                    a.floor,
                    a.point,
                    _vertical_text(hospital, edge, a.floor, b.floor),
                )
            )
            walked, heading = 0.0, None
            continue
        new_heading = heading_deg(a.point, b.point)
        if heading is not None:
            turn = _turn_name(turn_deg(heading, new_heading))
            if turn is not None and not steps and walked == 0.0:
                steps.append(
                    Step(
                        "face",
                        0.0,
                        turn,
                        a.floor,
                        a.point,
                        Name(en=_FACE_EN[turn], zh=_FACE_ZH[turn]),
                    )
                )
            elif turn is not None:
                last_turn = not _turns_after(nodes, edges, i)
                named = destination if last_turn else None
                steps.append(
                    Step("turn", walked, turn, a.floor, a.point, _turn_text(walked, turn, named))
                )
                walked = 0.0
        heading = new_heading
        walked += edge.length_m
    end = nodes[-1]
    steps.append(
        Step("arrive", walked, None, end.floor, end.point, _arrive_text(walked, destination))
    )
    return steps


def _turns_after(nodes: list[Node], edges: list[Edge], index: int) -> bool:
    """Whether another turn or a floor change follows the segment starting at ``index``."""
    previous: float | None = None
    for j in range(index, len(edges)):
        if edges[j].vertical:
            return True
        here = heading_deg(nodes[j].point, nodes[j + 1].point)
        if previous is not None and _turn_name(turn_deg(previous, here)) is not None:
            return True
        previous = here
    return False
