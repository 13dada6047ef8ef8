"""Profile events as EventBridge delivers them, for the kit's tests (the shapes of docs/events.md)."""

from __future__ import annotations

import itertools
import json
from typing import Any

USER = "0f8fad5b-d9cb-469f-a165-70867728950e"
_ids = itertools.count(1)


def envelope(detail_type: str, version: int, user: str = USER, **detail: Any) -> dict[str, Any]:
    """A whole EventBridge event; ``detail`` adds to or overrides the detail's keys."""
    body: dict[str, Any] = {
        "contract_version": 1,
        "event_id": f"event-{next(_ids)}",
        "user_id": user,
        "version": version,
        "occurred_at": "2026-11-28T09:00:00.257Z",
        "changed": [],
        "redacted": [],
    }
    if detail_type != "ProfileDeleted":
        body["new"] = {}
    if detail_type == "ProfileUpdated":
        body["old"] = {}
    body.update(detail)
    return {
        "version": "0",
        "id": f"envelope-{next(_ids)}",
        "detail-type": detail_type,
        "source": "profile-sync",
        "account": "123456789012",
        "time": "2026-11-28T09:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": body,
    }


def created(version: int, user: str = USER, **values: Any) -> dict[str, Any]:
    return envelope("ProfileCreated", version, user, changed=list(values), new=values)


def updated(version: int, user: str = USER, **values: Any) -> dict[str, Any]:
    return envelope("ProfileUpdated", version, user, changed=list(values), new=values, old=dict.fromkeys(values))


def deleted(version: int, user: str = USER, *held: str) -> dict[str, Any]:
    return envelope("ProfileDeleted", version, user, changed=list(held))


def sqs_record(event: dict[str, Any], message_id: str = "m-1") -> dict[str, Any]:
    """The record a Lambda SQS event holds for a message an EventBridge rule sent."""
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:profile-sync-example-consumer",
        "awsRegion": "eu-west-1",
    }
