"""The profile API's handler under moto: every status, conditional writes, who may write what."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from api.profile import openapi, requests
from api.profile.app import ApiSettings, handler
from api.profile.openapi import DOCUMENT, document
from api.profile.openapi import text as openapi_text
from local.support import TABLE, LambdaContext, resource, template
from shared import fields, settings
from shared.fields import FieldSpec, Owner
from shared.profile import Profile, first_version
from shared.repository import ProfileRepository

NOW = "2026-11-28T00:00:00.000Z"
SAMPLES = Path(__file__).resolve().parents[2] / "events" / "api"
ADA = "0f8fad5b-d9cb-469f-a165-70867728950e"
BOB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.fixture
def api(table: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The table with Ada's and Bob's profiles, a user pool holding Ada, and the API's settings."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="users")["UserPool"]["Id"]
    monkeypatch.setenv("USER_POOL_ID", pool)
    monkeypatch.setenv("ADMIN_GROUP", "profile-admins")
    repository = ProfileRepository(table, TABLE)
    for sub, values in (
        (ADA, {"display_name": "Ada", "plan": "free", "email": "ada@example.com"}),
        (BOB, {"plan": "pro"}),
    ):
        repository.create_if_absent(Profile(sub, f"name-{sub}", NOW, NOW, fields=values, version=first_version()))
    return {"repository": repository, "cognito": cognito, "pool": pool}


def call(
    route: str,
    sub: str = ADA,
    body: Any = None,
    headers: dict[str, str] | None = None,
    groups: str | None = None,
    path: dict[str, str] | None = None,
    raw: str | None = None,
    base64_body: bool = False,
    username: str | None = None,
) -> dict[str, Any]:
    """Invoke the handler with the payload-format 2.0 event API Gateway would send."""
    claims: dict[str, str] = {
        "sub": sub,
        "username": username or f"name-{sub}",
        "scope": "aws.cognito.signin.user.admin",
    }
    if groups is not None:
        claims["cognito:groups"] = groups
    text = raw if raw is not None else (json.dumps(body) if body is not None else None)
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": route.split(" ", 1)[1],
        "headers": {"content-type": "application/merge-patch+json", **(headers or {})},
        "pathParameters": path or {},
        "requestContext": {
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "http": {"method": route.split()[0]},
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }
    response: dict[str, Any] = handler(event, LambdaContext())
    response["json"] = json.loads(response["body"])
    return response


def etag_of(sub: str = ADA) -> str:
    return str(call("GET /me/profile", sub)["headers"]["etag"])


def test_get_returns_the_callers_profile_and_an_etag_without_bookkeeping(api: dict[str, Any]) -> None:
    # Given Ada's profile
    # When she reads it
    response = call("GET /me/profile")

    # Then she gets her fields, admin-owned ones included, no bookkeeping, and her version as ETag
    stored = api["repository"].get(ADA)
    assert response["statusCode"] == 200
    assert response["json"] == {"user_id": ADA, "display_name": "Ada", "plan": "free", "email": "ada@example.com"}
    assert response["headers"]["etag"] == f'"{stored.version}"'


def test_a_caller_without_a_profile_gets_it_created_from_cognito(api: dict[str, Any]) -> None:
    # Given a Cognito user whose sign-up and sign-in both failed to create a profile
    user = api["cognito"].admin_create_user(
        UserPoolId=api["pool"],
        Username="carol",
        UserAttributes=[{"Name": "email", "Value": "carol@example.com"}, {"Name": "locale", "Value": "fr-FR"}],
    )["User"]
    sub = next(item["Value"] for item in user["Attributes"] if item["Name"] == "sub")

    # When she reads her profile
    response = call("GET /me/profile", sub, username="carol")

    # Then it exists, built from her Cognito attributes as the triggers would
    assert response["statusCode"] == 200
    assert response["json"]["email"] == "carol@example.com"
    assert response["json"]["locale"] == "fr-FR"
    assert api["repository"].get(sub) is not None


def test_patch_with_the_etag_writes_once_and_returns_the_new_etag(api: dict[str, Any], aws_calls: Any) -> None:
    # Given Ada's current ETag
    current = etag_of()
    aws_calls.clear()

    # When she patches her name and locale
    response = call(
        "PATCH /me/profile", body={"display_name": "Ada King", "locale": "en-GB"}, headers={"if-match": current}
    )

    # Then one conditional update wrote them, without a read, and the ETag moved on
    assert response["statusCode"] == 200
    assert response["json"]["display_name"] == "Ada King"
    assert response["headers"]["etag"] != current
    assert aws_calls.counts == {"UpdateItem": 1}
    assert api["repository"].get(ADA).fields["locale"] == "en-GB"


def test_patch_accepts_application_json_and_null_removes_a_field(api: dict[str, Any]) -> None:
    response = call(
        "PATCH /me/profile",
        body={"display_name": None},
        headers={"if-match": etag_of(), "content-type": "application/json"},
    )
    assert response["statusCode"] == 200
    assert "display_name" not in api["repository"].get(ADA).fields


def test_patch_merges_into_an_object_field(api: dict[str, Any]) -> None:
    # Given preferences with two keys
    call(
        "PATCH /me/profile",
        body={"preferences": {"theme": "dark", "digest": "weekly"}},
        headers={"if-match": etag_of()},
    )

    # When a merge patch changes one and removes the other
    call("PATCH /me/profile", body={"preferences": {"theme": "light", "digest": None}}, headers={"if-match": etag_of()})

    # Then the object was merged member by member (RFC 7396)
    assert api["repository"].get(ADA).fields["preferences"] == {"theme": "light"}


def test_a_patch_that_changes_nothing_writes_nothing(api: dict[str, Any], aws_calls: Any) -> None:
    current = etag_of()
    aws_calls.clear()
    before = api["repository"].get(ADA)
    aws_calls.clear()
    patch = {"display_name": "Ada", "locale": None}  # the name it has, the removal of a field it lacks
    response = call("PATCH /me/profile", body=patch, headers={"if-match": current})
    # The one conditional update found nothing to change, so wrote nothing: same ETag, same item
    assert (response["statusCode"], response["headers"]["etag"]) == (200, current)
    assert aws_calls.counts == {"UpdateItem": 1}
    assert api["repository"].get(ADA) == before


def test_patch_without_if_match_is_428_and_writes_nothing(api: dict[str, Any], aws_calls: Any) -> None:
    aws_calls.clear()
    response = call("PATCH /me/profile", body={"display_name": "X"})
    assert (response["statusCode"], response["json"]["error"]) == (428, "precondition_required")
    assert aws_calls.counts == {}


def test_a_stale_etag_is_412_with_the_current_etag(api: dict[str, Any]) -> None:
    # Given an ETag read before another edit
    stale = etag_of()
    call("PATCH /me/profile", body={"display_name": "Ada K"}, headers={"if-match": stale})

    # When the stale ETag is used
    response = call("PATCH /me/profile", body={"display_name": "Ada L"}, headers={"if-match": stale})

    # Then 412 names the current ETag and the second edit is not written
    assert response["statusCode"] == 412
    assert response["headers"]["etag"] == etag_of()
    assert api["repository"].get(ADA).fields["display_name"] == "Ada K"


def test_two_concurrent_patches_with_one_etag_give_one_200_and_one_412(api: dict[str, Any], table: Any) -> None:
    # Given two edits sent with the same ETag, the second landing between the first's read and write
    current = etag_of()
    second: dict[str, Any] = {}

    def the_other_edit_lands(**_: Any) -> None:
        if not second:
            second["started"] = True  # its own UpdateItem passes through here too
            second.update(call("PATCH /me/profile", body={"locale": "de"}, headers={"if-match": current}))

    api_client = settings.load(ApiSettings).client("dynamodb")  # the client the handler uses (cached)
    api_client.meta.events.register("before-call.dynamodb.UpdateItem", the_other_edit_lands)

    # When the first edit is made
    first = call("PATCH /me/profile", body={"display_name": "Ada First"}, headers={"if-match": current})

    # Then one wins, the other is told it is stale, and the winner's change is what is stored
    assert sorted([first["statusCode"], second["statusCode"]]) == [200, 412]
    stored = api["repository"].get(ADA)
    assert stored.fields["locale"] == "de"
    assert stored.fields["display_name"] == "Ada"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"plan": "enterprise"}, 403, "forbidden_fields"),
        ({"roles": ["admin"]}, 403, "forbidden_fields"),
        ({"email": "x@example.com"}, 403, "forbidden_fields"),
        ({"nickname": "x"}, 400, "invalid_fields"),
        ({"locale": 42}, 400, "invalid_fields"),
        ({"picture": "javascript:alert(1)"}, 400, "invalid_fields"),
        ({"display_name": "A\u202eB"}, 400, "invalid_fields"),
        ([1, 2], 400, "malformed_body"),
    ],
)
def test_what_a_user_may_not_write_is_refused_by_field_and_nothing_is_written(
    api: dict[str, Any], body: Any, status: int, code: str
) -> None:
    # Given Ada's profile and a patch she may not make
    before = api["repository"].get(ADA)

    # When she sends it, beside a change she may make
    patch = {**body, "given_name": "Partial"} if isinstance(body, dict) else body
    response = call("PATCH /me/profile", body=patch, headers={"if-match": etag_of()})

    # Then the answer names the problem by field, never the value, and nothing (not even the valid part) is written
    assert (response["statusCode"], response["json"]["error"]) == (status, code)
    assert "javascript" not in response["body"]
    assert api["repository"].get(ADA) == before


@pytest.mark.parametrize(
    ("raw", "base64_body", "status"),
    [
        ("{" * 100_000 + "}" * 100_000, False, 413),
        ('{"display_name": "a", "display_name": "b"}', False, 400),
        ("[" * 5000 + "]" * 5000, False, 400),
        (base64.b64encode(b'{"display_name": "\xff\xfe"}').decode(), True, 400),
        ('{"display_name": NaN}', False, 400),
        ("not json", False, 400),
        ('{"display_name": "' + "x" * 20_000 + '"}', False, 413),
    ],
)
def test_hostile_bodies_are_400_or_413_and_write_nothing(
    api: dict[str, Any], raw: str, base64_body: bool, status: int
) -> None:
    before = api["repository"].get(ADA)
    response = call("PATCH /me/profile", raw=raw, base64_body=base64_body, headers={"if-match": etag_of()})
    assert response["statusCode"] == status
    assert api["repository"].get(ADA) == before


def test_other_content_types_are_415(api: dict[str, Any]) -> None:
    response = call(
        "PATCH /me/profile", body={"display_name": "X"}, headers={"if-match": etag_of(), "content-type": "text/plain"}
    )
    assert response["statusCode"] == 415


def test_a_user_cannot_use_the_admin_routes(api: dict[str, Any]) -> None:
    # Given Ada, a member of no admin group (or of one with a similar name)
    for groups in (None, "[profile-admins-x readers]"):
        # When she reads or patches Bob's profile
        read = call("GET /users/{sub}/profile", groups=groups, path={"sub": BOB})
        write = call(
            "PATCH /users/{sub}/profile",
            groups=groups,
            path={"sub": BOB},
            body={"plan": "free"},
            headers={"if-match": '"1"'},
        )

        # Then both are refused and Bob's profile is untouched
        assert (read["statusCode"], write["statusCode"]) == (403, 403)
    assert api["repository"].get(BOB).fields["plan"] == "pro"


def test_an_admin_sets_an_admin_owned_field_through_the_admin_route(api: dict[str, Any]) -> None:
    # Given an admin (HTTP API passes cognito:groups as a string like "[a b]")
    groups = "[readers profile-admins]"
    current = call("GET /users/{sub}/profile", groups=groups, path={"sub": BOB})["headers"]["etag"]

    # When the admin sets Bob's plan
    response = call(
        "PATCH /users/{sub}/profile",
        groups=groups,
        path={"sub": BOB},
        body={"plan": "team"},
        headers={"if-match": current},
    )

    # Then it is written
    assert response["statusCode"] == 200
    assert api["repository"].get(BOB).fields["plan"] == "team"


def test_me_routes_act_on_the_tokens_user_only(api: dict[str, Any]) -> None:
    # Given Bob's token
    # When he patches "his" profile
    response = call("PATCH /me/profile", sub=BOB, body={"display_name": "Bob"}, headers={"if-match": etag_of(BOB)})

    # Then Bob's profile changed and Ada's did not
    assert response["statusCode"] == 200
    assert api["repository"].get(ADA).fields["display_name"] == "Ada"
    assert api["repository"].get(BOB).fields["display_name"] == "Bob"


def test_logs_name_route_and_status_never_a_value(api: dict[str, Any], logs: Callable[[], str]) -> None:
    call("PATCH /me/profile", body={"display_name": "Zq7 Secret Name"}, headers={"if-match": etag_of()})
    text = logs()
    assert '"route": "PATCH /me/profile"' in text
    assert "Zq7 Secret Name" not in text


def test_the_committed_openapi_document_is_the_generated_one() -> None:
    # Given the document generated from the field map, When compared with docs/openapi.json,
    # Then they are equal (`make openapi` regenerates it)
    assert DOCUMENT.read_text() == openapi_text()


def test_a_user_owned_field_added_to_the_map_is_readable_and_writable(
    api: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new user-owned field declared in the map, and nothing else changed
    nickname = FieldSpec("nickname", Owner.USER, max_length=32)
    monkeypatch.setitem(fields.BY_NAME, "nickname", nickname)
    extended = (*fields.FIELDS, nickname)
    for module in (fields, requests, openapi):  # the modules that read the map's tuple
        monkeypatch.setattr(module, "FIELDS", extended)

    # When Ada sets it and reads her profile
    written = call("PATCH /me/profile", body={"nickname": "Countess"}, headers={"if-match": etag_of()})
    read = call("GET /me/profile")

    # Then it was validated, stored and shown, and the API document lists it as writable
    assert written["statusCode"] == 200
    assert read["json"]["nickname"] == "Countess"
    assert "nickname" in document()["components"]["schemas"]["UserPatch"]["properties"]


@pytest.mark.parametrize("name", sorted(path.name for path in SAMPLES.glob("*.json")))
def test_every_sample_event_gets_a_documented_answer(api: dict[str, Any], name: str) -> None:
    # Given a sample event of events/api/ (the users in it have no profile in this table)
    event = json.loads((SAMPLES / name).read_text())

    # When the handler takes it
    response = handler(event, LambdaContext())

    # Then it answers JSON with a status the API documents for that route
    path, method = event["routeKey"].split(" ", 1)[1], event["routeKey"].split(" ", 1)[0].lower()
    documented = document()["paths"][path][method]["responses"]
    assert str(response["statusCode"]) in documented
    json.loads(response["body"])


@pytest.mark.parametrize("groups", ["[team,profile-admins]", '["profile-admins"]', "[x,profile-admins,y]"])
def test_a_group_whose_name_merely_contains_the_admin_groups_is_no_admin(api: dict[str, Any], groups: str) -> None:
    # Given a caller in a group named with commas or quotes (HTTP API separates groups by spaces only)
    # When the admin route is called
    response = call("GET /users/{sub}/profile", groups=groups, path={"sub": BOB})

    # Then it is refused
    assert response["statusCode"] == 403


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ('{"preferences": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", 400),  # deeper than the map allows
        ('{"preferences": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}", 400),  # deep enough to exhaust a recursion
        ('{"display_name": "a\ud800"}', 400),  # a lone surrogate in the event's text
        ('{"preferences": {"\u202e": "x"}}', 400),  # a control character in a nested key
        ('{"preferences": {"note": "a\u0000b"}}', 400),  # and in a nested value
    ],
)
def test_hostile_nesting_and_characters_are_400_not_a_crash(api: dict[str, Any], raw: str, status: int) -> None:
    before = api["repository"].get(ADA)
    response = call("PATCH /me/profile", raw=raw, headers={"if-match": etag_of()})
    assert response["statusCode"] == status
    assert api["repository"].get(ADA) == before


def test_repeating_a_patch_with_a_float_that_is_stored_as_an_integer_writes_once(api: dict[str, Any]) -> None:
    # Given preferences patched with 1.0 (stored as 1)
    patch = {"preferences": {"scale": 1.0, "offset": -0.0}}
    first = call("PATCH /me/profile", body=patch, headers={"if-match": etag_of()})

    # When the same patch is sent again
    second = call("PATCH /me/profile", body=patch, headers={"if-match": first["headers"]["etag"]})

    # Then the second changes nothing, so writes nothing: the ETag stays
    assert second["headers"]["etag"] == first["headers"]["etag"]


def test_a_weak_etag_is_not_a_match(api: dict[str, Any]) -> None:
    weak = "W/" + etag_of()
    response = call("PATCH /me/profile", body={"display_name": "X"}, headers={"if-match": weak})
    assert response["statusCode"] == 412


def test_the_app_client_may_be_granted_the_api_scope() -> None:
    # Given the API's default scope and the app client's OAuth scopes (hosted UI: Google, Apple)
    default = template()["Parameters"]["ApiScope"]["Default"]
    allowed = resource("UserPoolClient")["Properties"]["AllowedOAuthScopes"]

    # Then a hosted-UI sign-in can get an access token the API accepts
    assert default in allowed


def test_a_patch_merging_into_an_object_reads_first_then_writes_once(api: dict[str, Any], aws_calls: Any) -> None:
    current = etag_of()
    aws_calls.clear()
    response = call("PATCH /me/profile", body={"preferences": {"theme": "dark"}}, headers={"if-match": current})
    assert response["statusCode"] == 200
    assert aws_calls.counts == {"GetItem": 1, "UpdateItem": 1}


def test_a_patch_of_a_profile_that_does_not_exist_is_404(api: dict[str, Any]) -> None:
    response = call("PATCH /me/profile", sub="no-such-user", body={"display_name": "X"}, headers={"if-match": '"1"'})
    assert response["statusCode"] == 404


def test_a_stored_item_of_the_wrong_type_is_500_naming_no_value(api: dict[str, Any], table: Any, logs: Any) -> None:
    # Given Ada's display name overwritten with a number by some script
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": ADA}},
        UpdateExpression="SET display_name = :n",
        ExpressionAttributeValues={":n": {"N": "73519"}},
    )

    # When she reads her profile
    response = call("GET /me/profile")

    # Then the API answers 500 and logs the attribute's name, never its value
    assert response["statusCode"] == 500
    assert "display_name" in logs()
    assert "73519" not in logs()
