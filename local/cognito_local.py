"""Where cognito-local 5.3.0 differs from Cognito in what the functions see, corrected
(docs/local.md lists each difference).

``adapt_event`` brings its trigger events to the shape a user pool deployed from template.yaml
sends, ``adapt_result`` the pre-token answer back to the V1 shape cognito-local reads (ID token
claims only: it cannot change access tokens), and ``forward`` passes Cognito API calls to it,
answering a missing user as Cognito does.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING_USER_AS_NOT_AUTHORIZED = frozenset(
    {"AdminUpdateUserAttributes", "AdminDeleteUserAttributes", "AdminConfirmSignUp"}
)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"})


@dataclass(frozen=True)
class PoolBehaviour:
    """What the template says about the user pool that the events depend on."""

    region: str
    auto_verifies_email: bool
    pre_token_version: str  # "1", "2" or "3"


def adapt_event(event: dict[str, Any], pool: PoolBehaviour) -> dict[str, Any]:
    """A copy of cognito-local's ``event`` in the shape real Cognito sends (see the module doc)."""
    adapted = copy.deepcopy(event)
    token = str(adapted.get("triggerSource", "")).startswith("TokenGeneration_")
    # cognito-local sends version "0"; the template's LambdaVersion decides the pre-token event's
    adapted["version"] = pool.pre_token_version if token else "1"
    adapted["region"] = pool.region  # "local"
    caller = adapted.setdefault("callerContext", {})
    caller["awsSdkVersion"] = "aws-sdk-unknown-unknown"
    if not caller.get("clientId"):  # null on admin confirmation
        caller["clientId"] = "CLIENT_ID_NOT_APPLICABLE"
    request = adapted.setdefault("request", {})
    attributes = request.setdefault("userAttributes", {})
    # cognito-local never sets it; confirming the code sent to the address verifies it in Cognito
    if pool.auto_verifies_email and attributes.get("email") and "email_verified" not in attributes:
        attributes["email_verified"] = "true"
    if token:
        groups = request.get("groupConfiguration") or {}
        request["groupConfiguration"] = {
            "groupsToOverride": groups.get("groupsToOverride") or [],
            "iamRolesToOverride": groups.get("iamRolesToOverride") or [],
            "preferredRole": groups.get("preferredRole"),
        }
        if adapted["version"] == "1":
            adapted["response"] = {"claimsOverrideDetails": None}
        else:
            request["scopes"] = ["aws.cognito.signin.user.admin"]
            adapted["response"] = {"claimsAndScopeOverrideDetails": None}
    return adapted


def adapt_result(result: Any, adapted_event: dict[str, Any]) -> Any:
    """The handler's result in the shape cognito-local reads (V2/V3 token responses become V1)."""
    if not isinstance(result, dict) or adapted_event.get("version") not in ("2", "3"):
        return result
    details = (result.get("response") or {}).get("claimsAndScopeOverrideDetails") or {}
    id_token = details.get("idTokenGeneration") or {}
    return {
        **result,
        "response": {
            "claimsOverrideDetails": {
                "claimsToAddOrOverride": id_token.get("claimsToAddOrOverride") or {},
                "claimsToSuppress": id_token.get("claimsToSuppress") or [],
                "groupOverrideDetails": details.get("groupOverrideDetails"),
            }
        },
    }


def forward(port: int, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One Cognito API request passed to cognito-local on ``port``: (status, headers, body). For a user
    that does not exist, cognito-local answers these three operations with NotAuthorizedException;
    Cognito with UserNotFoundException, which the Cognito sync treats as nothing to do."""
    upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        sent = {key: value for key, value in headers.items() if key.lower() not in _HOP_BY_HOP}
        upstream.request("POST", path, body=body, headers=sent)
        response = upstream.getresponse()
        status, payload = response.status, response.read()
        answer_headers = {key: value for key, value in response.getheaders() if key.lower() not in _HOP_BY_HOP}
    finally:
        upstream.close()
    operation = str(headers.get("X-Amz-Target", "")).rpartition(".")[2]
    if status == 400 and operation in MISSING_USER_AS_NOT_AUTHORIZED and b"NotAuthorizedException" in payload:
        payload = json.dumps({"__type": "UserNotFoundException", "message": "User does not exist."}).encode()
    return status, answer_headers, payload
