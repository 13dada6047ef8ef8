"""The local HTTP API's routes, authorizer and events, as API Gateway's (no sockets)."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from local.http_api import Authorizer, Denied, HttpRequest, Route, authorize, build_event, claims_as_passed, routes
from local.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "http://127.0.0.1:9/local_pool"
AUTHORIZER = Authorizer(ISSUER, frozenset({"client-1"}))
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def template_routes() -> dict[str, Route]:
    template = load_template(ROOT / "template.yaml")
    return {route.key: route for route in routes(template, Resolver(template))}


def token(**claims: object) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "client_id": "client-1", "exp": now + 60, "iat": now, "sub": "u1"}
    base |= {"scope": "aws.cognito.signin.user.admin", "token_use": "access"}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {**base, **claims}, KEY)


def test_routes_are_the_functions_httpapi_events_with_the_api_scope() -> None:
    # When the template's routes are read
    found = template_routes()
    # Then each HttpApi event is a route to the API function, requiring ApiScope's default
    assert set(found) == {
        "GET /me/profile",
        "PATCH /me/profile",
        "GET /users/{sub}/profile",
        "PATCH /users/{sub}/profile",
        "DELETE /me",
        "GET /me/export",
        "DELETE /users/{sub}",
    }
    assert found["DELETE /users/{sub}"].match("DELETE", "/users/x/profile") is None
    route = found["PATCH /users/{sub}/profile"]
    assert route.function == "ProfileApiFunction"
    assert route.scopes == ("aws.cognito.signin.user.admin",)
    assert route.match("PATCH", "/users/a%2Fb/profile") == {"sub": "a/b"}
    assert route.match("GET", "/users/x/profile") is None


def test_a_valid_access_token_passes_and_its_claims_arrive_as_strings() -> None:
    # Given a route and an access token of an admin
    route = template_routes()["GET /users/{sub}/profile"]
    claims = authorize(
        f"Bearer {token(**{'cognito:groups': ['profile-admins', 'ops']})}", KeySet([KEY]), AUTHORIZER, route
    )
    # When the event is built
    request = HttpRequest("GET", "/users/u2/profile?x=1&x=2", [("Authorization", "t"), ("X-A", "1")], b"")
    event = build_event(request, route, {"sub": "u2"}, claims)
    # Then the claims are strings, arrays as "[a b]", headers lower-case, the route and path parameters set
    passed = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert passed["cognito:groups"] == "[profile-admins ops]"
    assert passed["exp"] == str(claims["exp"])
    assert event["headers"]["x-a"] == "1"
    assert event["routeKey"] == "GET /users/{sub}/profile"
    assert event["pathParameters"] == {"sub": "u2"}
    assert event["queryStringParameters"] == {"x": "1,2"}


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (lambda: None, 401),
        (lambda: "Bearer not-a-jwt", 401),
        (lambda: f"Bearer {token(exp=int(time.time()) - 1)}", 401),
        (lambda: f"Bearer {token(iss='https://elsewhere')}", 401),
        (lambda: f"Bearer {token(client_id='other')}", 401),
        (lambda: f"Bearer {token(aud='other')}", 401),  # aud, when present, is what counts
        (lambda: f"Bearer {token(nbf=int(time.time()) + 300)}", 401),
        (lambda: f"Bearer {token(scope='openid email')}", 403),
    ],
)
def test_the_authorizer_refuses_as_api_gateway_does(header: Callable[[], str | None], status: int) -> None:
    # Given a route requiring the API scope
    route = template_routes()["GET /me/profile"]
    # When a request brings this Authorization header (made now: tokens made at collection expire)
    with pytest.raises(Denied) as refused:
        authorize(header(), KeySet([KEY]), AUTHORIZER, route)
    # Then API Gateway's status comes back
    assert refused.value.status == status


def test_claims_keep_api_gateways_string_forms() -> None:
    # Then booleans, numbers and lists are passed as API Gateway passes them
    assert claims_as_passed({"a": True, "b": 12, "c": ["x"], "d": 1.0}) == {
        "a": "true",
        "b": "12",
        "c": "[x]",
        "d": "1",
    }
