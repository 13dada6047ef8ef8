"""What the demo and the integration tests do on the local stack: sign-ups, sign-ins, edits.

Each function performs one user-visible action through the real path (cognito-local and
its triggers, the Invoke API, the table) and returns what a check needs; checks raise
``Failed`` naming what was expected. The demo narrates them; the tests assert on them.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.processes import COGNITO_LOCAL_CODE
from local.stack import Stack

PASSWORD = "Local-demo-1!"
NEW_PASSWORD = "Local-demo-2!"
CODE = COGNITO_LOCAL_CODE  # every confirmation code cognito-local sends
WAIT_SECONDS = 8.0


class Failed(AssertionError):
    """A step's outcome was not what it should be."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def wait_for[T](probe: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS, every: float = 0.05) -> T:
    """Poll ``probe`` until it returns something (bounded): the stream path is asynchronous."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise Failed(f"{what}: nothing within {timeout:.0f} s")
        time.sleep(every)


# --- the profile table ---------------------------------------------------------------------


def profile_item(stack: Stack, user_id: str) -> dict[str, Any] | None:
    """The raw stored item (DynamoDB JSON), read strongly consistent."""
    response = stack.client("dynamodb").get_item(
        TableName=stack.table_name, Key={"user_id": {"S": user_id}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def profile(stack: Stack, user_id: str) -> dict[str, Any] | None:
    """The stored profile as plain values."""
    from shared.repository import from_dynamodb

    item = profile_item(stack, user_id)
    return from_dynamodb(item) if item else None


def edit_profile(stack: Stack, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change the profile the way the API and admin scripts do: a conditional, versioned update."""
    from shared.repository import ProfileRepository

    current = profile(stack, user_id)
    check(current is not None, f"profile {user_id} missing before the edit")
    assert current is not None
    updated = ProfileRepository(stack.client("dynamodb"), stack.table_name).update(
        user_id, changes, expected_version=int(current["version"])
    )
    return updated.to_item()


def delete_profile(stack: Stack, user_id: str) -> None:
    from shared.repository import ProfileRepository

    ProfileRepository(stack.client("dynamodb"), stack.table_name).delete(user_id)


# --- cognito-local -------------------------------------------------------------------------


def sign_up(stack: Stack, email: str, attributes: Mapping[str, str]) -> str:
    """Self sign-up and confirmation with the emailed code; returns the user's sub."""
    cognito = stack.client("cognito-idp")
    user_attributes = [{"Name": "email", "Value": email}, *({"Name": k, "Value": v} for k, v in attributes.items())]
    sub = str(
        cognito.sign_up(ClientId=stack.client_id, Username=email, Password=PASSWORD, UserAttributes=user_attributes)[
            "UserSub"
        ]
    )
    cognito.confirm_sign_up(ClientId=stack.client_id, Username=email, ConfirmationCode=CODE)
    return sub


def sign_in(stack: Stack, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Password sign-in (cognito-local has no SRP); the tokens issued."""
    result: dict[str, Any] = stack.client("cognito-idp").initiate_auth(
        ClientId=stack.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    return result


def reset_password(stack: Stack, email: str) -> None:
    cognito = stack.client("cognito-idp")
    cognito.forgot_password(ClientId=stack.client_id, Username=email)
    cognito.confirm_forgot_password(
        ClientId=stack.client_id, Username=email, ConfirmationCode=CODE, Password=NEW_PASSWORD
    )


def cognito_attributes(stack: Stack, username: str) -> dict[str, str]:
    user = stack.client("cognito-idp").admin_get_user(UserPoolId=stack.user_pool_id, Username=username)
    return {attribute["Name"]: attribute["Value"] for attribute in user.get("UserAttributes", [])}


def verify_id_token(stack: Stack, token: str) -> dict[str, Any]:
    """The ID token's claims after checking its RS256 signature against cognito-local's JWKS,
    its issuer, audience, expiry and token use."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    assert stack.endpoints is not None
    issuer = f"{stack.endpoints.cognito_issuer}/{stack.user_pool_id}"
    with urllib.request.urlopen(f"{issuer}/.well-known/jwks.json", timeout=2) as response:  # noqa: S310 - loopback
        keys = KeySet.import_key_set(json.load(response))
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": stack.client_id},
        token_use={"essential": True, "value": "id"},
        exp={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.claims)


def existing_user(stack: Stack, email: str, name: str, password: str | None = None) -> str:
    """A user made with AdminCreateUser, which fires no trigger: like a user from before the
    triggers were attached, without a profile. With ``password``, one that can sign in. Its sub."""
    cognito = stack.client("cognito-idp")
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    created = cognito.admin_create_user(
        UserPoolId=stack.user_pool_id,
        Username=email,
        MessageAction="SUPPRESS",
        UserAttributes=[*attributes, {"Name": "name", "Value": name}],
    )["User"]
    if password:
        cognito.admin_set_user_password(
            UserPoolId=stack.user_pool_id, Username=email, Password=password, Permanent=True
        )
    return str(next(item["Value"] for item in created["Attributes"] if item["Name"] == "sub"))


def cognito_user_exists(stack: Stack, username: str) -> bool:
    cognito = stack.client("cognito-idp")
    try:
        cognito.admin_get_user(UserPoolId=stack.user_pool_id, Username=username)
    except cognito.exceptions.UserNotFoundException:
        return False
    return True


_OPS_OUTPUT = threading.Lock()  # one in-process command at a time holds the process's stdout and stderr


def ops(stack: Stack, *arguments: str) -> tuple[int, str, str]:
    """``python -m ops ARGUMENTS`` on the stack, in this process (no interpreter and boto3 start-up,
    about a second on a loaded 2-core machine): ``ops.__main__.main`` with the stack's target in
    place of ``--local``. Its exit status, stdout and stderr. The demo prints through its own
    stream, so holding the process's stdout and stderr for the command's run captures only it."""
    from ops.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with _OPS_OUTPUT, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(arguments), target=stack.ops_target())
    return status, out.getvalue(), err.getvalue()


def add_to_group(stack: Stack, username: str, group: str) -> None:
    stack.client("cognito-idp").admin_add_user_to_group(
        UserPoolId=stack.user_pool_id, Username=username, GroupName=group
    )


def admin_group(stack: Stack) -> str:
    """The group the template's ProfileApiFunction admits to the admin routes (its ADMIN_GROUP)."""
    variables = stack.resolver.resolve(stack.specs["ProfileApiFunction"].environment)
    return str(variables["ADMIN_GROUP"])


def resign(stack: Stack, claims: Mapping[str, Any]) -> str:
    """``claims`` signed with cognito-local's own key (published in its npm package), under its ``kid``:
    a token it could have issued, for cases it never issues (other scopes)."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from local.processes import COGNITO_LOCAL

    private = json.loads((COGNITO_LOCAL.parents[1] / "keys" / "cognitoLocal.private.json").read_text())
    return jwt.encode({"alg": "RS256", "kid": "CognitoLocal"}, dict(claims), RSAKey.import_key(private["jwk"]))


# --- the HTTP API (the local stack's API Gateway) -------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # JSON, or the text if it is not JSON

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


def api(
    stack: Stack, method: str, path: str, token: str | None, body: Any = None, headers: Mapping[str, str] | None = None
) -> Answer:
    """One request to the local HTTP API with ``Authorization: Bearer token``; the answer, whatever its status."""
    assert stack.endpoints is not None
    sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/merge-patch+json")
    request = urllib.request.Request(f"{stack.endpoints.api}{path}", data=data, headers=sent, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, {name.lower(): value for name, value in answer_headers.items()}, parsed)


# --- federated first sign-ins (what Cognito sends after the IdP redirect) ------------------


@dataclass(frozen=True)
class FederatedUser:
    provider: str  # Google | SignInWithApple
    provider_user_id: str
    email: str
    attributes: Mapping[str, str]
    sub: str = ""

    @property
    def username(self) -> str:
        return f"{self.provider}_{self.provider_user_id}"

    def user_attributes(self) -> dict[str, str]:
        identities = [
            {
                "userId": self.provider_user_id,
                "providerName": self.provider,
                "providerType": self.provider,
                "issuer": None,
                "primary": True,
                "dateCreated": int(time.time() * 1000),
            }
        ]
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": "true",
            "identities": json.dumps(identities),
            "cognito:user_status": "EXTERNAL_PROVIDER",
            **self.attributes,
        }


def federated(provider: str, provider_user_id: str, email: str, attributes: Mapping[str, str]) -> FederatedUser:
    return FederatedUser(provider, provider_user_id, email, attributes, str(uuid.uuid4()))


def _event(stack: Stack, username: str, attributes: Mapping[str, str], source: str, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "region": "us-east-1",
        "userPoolId": stack.user_pool_id,
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": stack.client_id},
        "triggerSource": source,
        "request": {"userAttributes": dict(attributes)},
        "response": {},
    }


def trigger_function(stack: Stack, trigger: str) -> str:
    """The function the template's user pool names for a trigger (``PostConfirmation``, ...)."""
    name = stack.trigger_functions().get(trigger)
    check(name is not None, f"the user pool names no {trigger} function")
    return str(name)


def invoke(stack: Stack, function: str, event: Any) -> tuple[str | None, Any]:
    """Invoke through the runner's Lambda Invoke API, as Cognito would; (function error, payload)."""
    response = stack.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read() or b"null")


def sign_in_event(stack: Stack, username: str) -> dict[str, Any]:
    """The pre-token generation event Cognito sends when ``username`` signs in with a password
    (``TokenGeneration_Authentication``), the user's attributes as the pool holds them now, in the
    version the pool's LambdaConfig names. Invoked later (``invoke``), it is a sign-in that was in
    flight at this moment."""
    from local.cognito_local import adapt_event

    user = stack.client("cognito-idp").admin_get_user(UserPoolId=stack.user_pool_id, Username=username)
    attributes = {item["Name"]: item["Value"] for item in user["UserAttributes"]}
    attributes["cognito:user_status"] = user["UserStatus"]
    event = _event(stack, user["Username"], attributes, "TokenGeneration_Authentication", "0")
    return adapt_event(event, stack.pool_behaviour())  # the version, groups, scopes and email_verified Cognito sends


def federated_first_sign_in(stack: Stack, user: FederatedUser) -> dict[str, Any]:
    """Cognito's events for a federated user's first sign-in: post-confirmation, then pre-token (V2,
    hosted UI). The user also exists in cognito-local, as Cognito keeps federated users in the pool.
    Returns the ID token claims the pre-token trigger added."""
    stack.client("cognito-idp").admin_create_user(
        UserPoolId=stack.user_pool_id,
        Username=user.email,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": k, "Value": v} for k, v in user.user_attributes().items() if not k.startswith("cog")],
    )
    attributes = user.user_attributes()
    error, _ = invoke(
        stack,
        trigger_function(stack, "PostConfirmation"),
        _event(stack, user.username, attributes, "PostConfirmation_ConfirmSignUp", "1"),
    )
    check(error is None, f"post-confirmation failed for {user.username}: {error}")
    version = stack.pool_behaviour().pre_token_version
    token_event = _event(stack, user.username, attributes, "TokenGeneration_HostedAuth", version)
    token_event["request"].update(
        {
            "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None},
            "scopes": ["openid", "email", "profile"],
        }
    )
    error, result = invoke(stack, trigger_function(stack, "PreTokenGeneration"), token_event)
    check(error is None, f"pre-token generation failed for {user.username}: {result}")
    response = result["response"]
    if "claimsAndScopeOverrideDetails" in response:
        details = response["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
    else:
        details = response["claimsOverrideDetails"]
    return dict(details.get("claimsToAddOrOverride") or {})


# --- downstream: the example consumer queue and the on-failure destination ------------------


def consumer_queues(stack: Stack) -> dict[str, str]:
    """SQS queues that are targets of an EventBridge rule on the profile bus (the example consumer).

    Rules on the default bus (the CloudTrail deletions' rule) feed the stack's own queues, not consumers.
    """
    rules = [props for props in stack.resources("AWS::Events::Rule").values() if props.get("EventBusName")]
    targets = {target.get("Arn") for props in rules for target in props.get("Targets") or []}
    return {name: url for name, url in stack.queue_urls.items() if stack.resolver.attributes[(name, "Arn")] in targets}


def failed_batches(stack: Stack, bucket: str) -> list[tuple[str, dict[str, Any]]]:
    """What the stream mappings wrote to an S3 on-failure destination: (object key, Lambda's record)."""
    s3 = stack.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return [(key, json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) for key in keys]


class Inbox:
    """Messages received from a set of queues, kept so several steps (on several threads) can look
    for theirs."""

    def __init__(self, stack: Stack, queues: Mapping[str, str]) -> None:
        self.stack = stack
        self.queues = dict(queues)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def drain(self) -> None:
        sqs = self.stack.client("sqs")
        with self.lock:
            for name, url in self.queues.items():
                response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                for message in response.get("Messages", []):
                    self.messages.append((name, json.loads(message["Body"])))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def find(self, predicate: Callable[[dict[str, Any]], bool]) -> tuple[str, dict[str, Any]] | None:
        self.drain()
        with self.lock:
            return next(((name, body) for name, body in self.messages if predicate(body)), None)

    def wait_event(
        self, detail_type: str, user_id: str, timeout: float = WAIT_SECONDS, version: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The EventBridge event of ``detail_type`` about ``user_id`` (at ``version``, if given) that
        reached a consumer queue."""
        check(bool(self.queues), "the template has no rule delivering events to an SQS queue")

        def about_user(body: dict[str, Any]) -> bool:
            if version is not None and (body.get("detail") or {}).get("version") != version:
                return False
            return body.get("detail-type") == detail_type and user_id in json.dumps(body.get("detail"))

        return wait_for(
            lambda: self.find(about_user), f"{detail_type} for {user_id} at {', '.join(self.queues)}", timeout
        )
