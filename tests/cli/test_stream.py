"""``ddbes serve`` and ``ddbes tail`` in two processes stream the commits a third one makes."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import Ddbes, stop


def test_serve_and_tail_stream_commits_appended_by_a_third_process(ddbes: Ddbes) -> None:
    kind = f"Stream{uuid.uuid4().hex[:8]}"
    server = ddbes.start("serve", "--port", "0", "--poll-delay", "0.05", "--json")
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        tail = ddbes.start(
            "tail", url, "--aggregate-type", kind, "--type", "Renamed", "--count", "2", "--json"
        )
        assert tail.stderr is not None
        assert "subscribed" in tail.stderr.readline()
        for event in (
            '{"type": "Renamed", "name": "a"}',
            '{"type": "Other"}',
            '{"type": "Renamed", "name": "b"}',
        ):
            appended = ddbes("append", kind, "k1", event)
            assert appended.returncode == 0, appended.stderr
        other = ddbes("append", "Unrelated", "k1", '{"type": "Renamed", "name": "x"}')
        assert other.returncode == 0
        out, err = tail.communicate(timeout=60)
        assert tail.returncode == 0, err
    finally:
        code, _, server_err = stop(server)
    assert code == 0, server_err
    items = [json.loads(line) for line in out.splitlines()]
    assert [(i["aggregate_id"], i["version"], i["event"]) for i in items] == [
        (f"{kind}:k1", 1, {"type": "Renamed", "name": "a"}),
        (f"{kind}:k1", 3, {"type": "Renamed", "name": "b"}),
    ]
    assert items[0]["position"] < items[1]["position"]


def test_tail_resumes_after_a_position_with_filter_sets_ored(ddbes: Ddbes) -> None:
    kind = f"Resume{uuid.uuid4().hex[:8]}"
    first = ddbes("append", kind, "a", '{"type": "One"}', "--json")
    ddbes("append", kind, "b", '{"type": "Two", "colour": "blue"}')
    ddbes("append", kind, "c", '{"type": "Three"}')
    after = str(first.json()["position"] - 1)
    server = ddbes.start("serve", "--port", "0", "--json")
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        tail = ddbes(
            "tail",
            url,
            "--after",
            after,
            "--count",
            "2",
            "--filter",
            json.dumps({"aggregateType": kind, "type": "One"}),
            "--filter",
            json.dumps([{"aggregateType": {"regexp": f"^{kind}$"}, "colour": "blue"}]),
            timeout=60,
        )
    finally:
        stop(server)
    assert tail.returncode == 0, tail.stderr
    assert [line.split()[1:4] for line in tail.lines] == [
        [f"{kind}:a", "v1", "One"],
        [f"{kind}:b", "v1", "Two"],
    ]
