"""Latest-wins coalescing of the per-connection outbox (a slow browser holds one message per
topic, never a backlog)."""

from apps.realtime.outbox import Outbox


def _drain(outbox: Outbox) -> list[dict]:
    out = []
    while (message := outbox.take()) is not None:
        out.append(message)
    return out


def test_a_newer_message_replaces_the_unsent_one_of_the_same_topic_only():
    outbox = Outbox()
    for seq in range(1, 1001):
        outbox.put_message("surface:BTC", {"topic": "surface:BTC", "seq": seq})
    outbox.put_message("breakers", {"topic": "breakers", "seq": 7})
    assert len(outbox) == 2
    assert _drain(outbox) == [
        {"topic": "surface:BTC", "seq": 1000},
        {"topic": "breakers", "seq": 7},
    ]
    assert outbox.coalesced == 999


def test_control_replies_go_first_and_snapshots_before_the_messages_they_cover():
    outbox = Outbox()
    outbox.put_message("breakers", {"topic": "breakers", "seq": 4})
    outbox.put_message("risk", {"topic": "risk", "seq": 9})
    outbox.put_snapshot("breakers", {"type": "snapshot", "topic": "breakers", "seq": 5})
    outbox.put_snapshot("risk", {"type": "snapshot", "topic": "risk", "seq": 8})
    outbox.put_control({"type": "pong"})
    assert _drain(outbox) == [
        {"type": "pong"},
        {"type": "snapshot", "topic": "breakers", "seq": 5},  # seq 4 is inside it: dropped
        {"type": "snapshot", "topic": "risk", "seq": 8},
        {"topic": "risk", "seq": 9},  # newer than its snapshot: still sent
    ]


def test_unsubscribing_drops_what_was_pending():
    outbox = Outbox()
    outbox.put_message("breakers", {"seq": 1})
    outbox.put_snapshot("breakers", {"seq": 1})
    outbox.drop_topic("breakers")
    assert outbox.take() is None
