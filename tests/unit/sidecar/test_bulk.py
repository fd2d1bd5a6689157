"""Pure parts of the sidecar's bulk pub/sub (sidecar/pubsub/bulk.py), as daprd reads them."""

from __future__ import annotations

import pytest

from sidecar.pubsub.bulk import (
    BulkError,
    BulkSubscribe,
    _decode_statuses,
    go_json,
    http_event_bytes,
    is_raw_payload,
    merge_entry_metadata,
)


def test_raw_payload_is_strconv_parse_bool() -> None:
    assert is_raw_payload({"rawPayload": "T"}) and not is_raw_payload({"rawPayload": "0"})
    assert not is_raw_payload({})
    with pytest.raises(BulkError, match="must be a valid boolean: actual is 'yes'"):
        is_raw_payload({"rawPayload": "yes"})


def test_entry_metadata_wins_over_the_request_s() -> None:
    assert merge_entry_metadata({"a": "1", "b": "1"}, {"b": "2"}) == {"a": "1", "b": "2"}


def test_http_events_convert_by_content_type_as_convert_event_to_bytes() -> None:
    assert http_event_bytes("aGk=", "application/octet-stream") == b"hi"
    assert http_event_bytes("hi", "text/plain; charset=utf-8") == b"hi"
    assert http_event_bytes({"b": 1, "a": 2}, "application/json") == b'{"a":2,"b":1}'
    for event, content_type in (({"x": 1}, ""), ({"x": 1}, "text/plain"), (1, "application/xml")):
        with pytest.raises(BulkError, match="mismatch between contentType and event"):
            http_event_bytes(event, content_type)


def test_numbers_go_through_float64_as_in_go() -> None:
    assert go_json({"n": 12345678901234567891, "f": 1.0}) == '{"f":1,"n":12345678901234567168}'


def test_statuses_decode_as_encoding_json_does() -> None:
    assert _decode_statuses('{"Statuses":[{"EntryID":"a","status":"DROP"}]} trailing') == [
        ("a", "DROP")
    ]
    assert _decode_statuses("null") == []
    assert _decode_statuses('{"statuses":[{"entryId":"a"}]}') == [("a", "")]
    for body in ("", "[]", '{"statuses":{}}', '{"statuses":[{"entryId":1}]}'):
        with pytest.raises(ValueError):
            _decode_statuses(body)


def test_bulk_subscribe_defaults_replace_non_positive_values() -> None:
    config = BulkSubscribe.parse({"enabled": True, "maxMessagesCount": 0})
    assert config is not None and config.resolved(100, 1000) == (100, 1.0)
    assert BulkSubscribe.parse({"enabled": False, "maxMessagesCount": 5}) is None
