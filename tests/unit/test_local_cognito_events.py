"""cognito-local's events are brought to the shape real Cognito sends (no sockets)."""

from typing import Any

from local.cognito_local import PoolBehaviour, adapt_event, adapt_result

POOL = PoolBehaviour(region="us-east-1", auto_verifies_email=True, pre_token_version="2")


def cognito_local_event(source: str, client_id: str | None = "client") -> dict[str, Any]:
    # The shape cognito-local 5.3.0 sends (lib/services/lambda.js)
    return {
        "version": "0",
        "callerContext": {"awsSdkVersion": "2.1693.0", "clientId": client_id},
        "region": "local",
        "userPoolId": "local_abc",
        "triggerSource": source,
        "userName": "u-1",
        "request": {"userAttributes": {"sub": "u-1", "email": "a@example.com", "cognito:user_status": "CONFIRMED"}},
        "response": {},
    }


def test_post_confirmation_event_gets_version_1_region_and_a_verified_email() -> None:
    # Given cognito-local's admin confirmation event (null client id)
    event = cognito_local_event("PostConfirmation_ConfirmSignUp", client_id=None)
    # When adapted for a pool that auto-verifies email
    adapted = adapt_event(event, POOL)
    # Then it reads like Cognito's
    assert adapted["version"] == "1"
    assert adapted["region"] == "us-east-1"
    assert adapted["callerContext"]["clientId"] == "CLIENT_ID_NOT_APPLICABLE"
    assert adapted["request"]["userAttributes"]["email_verified"] == "true"
    assert event["version"] == "0"  # the original is left alone


def test_token_event_follows_the_templates_lambda_version_and_maps_the_response_back() -> None:
    # Given cognito-local's V1-only token event and a pool configured for V2
    adapted = adapt_event(cognito_local_event("TokenGeneration_Authentication"), POOL)
    # Then the handler sees a V2 event
    assert adapted["version"] == "2"
    assert adapted["request"]["scopes"] == ["aws.cognito.signin.user.admin"]
    assert adapted["request"]["groupConfiguration"] == {
        "groupsToOverride": [],
        "iamRolesToOverride": [],
        "preferredRole": None,
    }
    assert adapted["response"] == {"claimsAndScopeOverrideDetails": None}
    # And its V2 answer comes back as the V1 claimsOverrideDetails cognito-local applies to the ID token
    answered = {
        **adapted,
        "response": {
            "claimsAndScopeOverrideDetails": {
                "idTokenGeneration": {"claimsToAddOrOverride": {"name": "Ada"}},
                "accessTokenGeneration": {"claimsToAddOrOverride": {"plan": "pro"}},
            }
        },
    }
    details = adapt_result(answered, adapted)["response"]["claimsOverrideDetails"]
    assert details["claimsToAddOrOverride"] == {"name": "Ada"}
