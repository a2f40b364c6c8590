"""Topic value objects."""

from __future__ import annotations

import pytest

from protocol.topics import INGEST_SUBSCRIPTION, GatewayTopic, NurseTopic, TopicError


def test_topic_round_trip() -> None:
    topic = GatewayTopic("gw-0001", "reading")
    assert str(topic) == "caredge/v1/gw/gw-0001/reading"
    assert GatewayTopic.parse(str(topic)) == topic
    assert str(NurseTopic("n.7")) == "caredge/v1/nurse/n.7/alerts"
    assert INGEST_SUBSCRIPTION == "$share/ingest/caredge/v1/gw/+/reading"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "x" * 65, "gw 1", "gw\u00e9"])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        GatewayTopic(bad, "reading")


@pytest.mark.parametrize(
    "topic",
    [
        "caredge/v2/gw/a/reading",
        "caredge/v1/gw/a/readings",
        "caredge/v1/gw/a/b/reading",
        "caredge/v1/gw//reading",
        "other/v1/gw/a/reading",
    ],
)
def test_foreign_topics_do_not_parse(topic: str) -> None:
    with pytest.raises(TopicError):
        GatewayTopic.parse(topic)
