"""cognito-local's trigger events, brought to the shape real Cognito sends.

cognito-local 5.3.0 builds every trigger event the same older way. Before a handler sees
one, the runner makes these changes (and only these), each to match what a real user pool
deployed from template.yaml sends:

1. ``version``: cognito-local sends "0"; Cognito sends "1" for V1 events. For the
   pre-token trigger the template's ``PreTokenGenerationConfig.LambdaVersion`` decides:
   V2_0/V3_0 give version "2"/"3" with the V2 shape (``request.scopes``,
   ``response.claimsAndScopeOverrideDetails``), and the handler's V2 response is mapped
   back to the V1 ``claimsOverrideDetails`` cognito-local reads (ID token claims only:
   cognito-local cannot change access tokens).
2. ``region``: "local" becomes the stack's region.
3. ``callerContext``: a null ``clientId`` (admin confirmation) becomes
   "CLIENT_ID_NOT_APPLICABLE"; the Node SDK version becomes "aws-sdk-unknown-unknown".
4. ``request.userAttributes.email_verified``: cognito-local never sets it. When the
   template's pool auto-verifies email, confirming the code sent to the address verifies
   it, so the runner adds "true" to events of users that have an email.
5. ``request.groupConfiguration`` gets its three fields (empty lists, null role) and a V1
   token event's ``response`` is ``{"claimsOverrideDetails": null}``, as Cognito sends them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

TOKEN_PREFIX = "TokenGeneration_"


@dataclass(frozen=True)
class PoolBehaviour:
    """What the template says about the user pool that the events depend on."""

    region: str
    auto_verifies_email: bool
    pre_token_version: str  # "1", "2" or "3"


def adapt_event(event: dict[str, Any], pool: PoolBehaviour) -> dict[str, Any]:
    """A copy of cognito-local's ``event`` in the shape real Cognito sends (see the module doc)."""
    adapted = copy.deepcopy(event)
    source = str(adapted.get("triggerSource", ""))
    token = source.startswith(TOKEN_PREFIX)
    adapted["version"] = pool.pre_token_version if token else "1"
    adapted["region"] = pool.region
    caller = adapted.setdefault("callerContext", {})
    caller["awsSdkVersion"] = "aws-sdk-unknown-unknown"
    if not caller.get("clientId"):
        caller["clientId"] = "CLIENT_ID_NOT_APPLICABLE"
    request = adapted.setdefault("request", {})
    attributes = request.setdefault("userAttributes", {})
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
    response = result.get("response") or {}
    details = response.get("claimsAndScopeOverrideDetails") or {}
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
