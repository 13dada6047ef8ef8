"""The template's HTTP API on loopback, answering as API Gateway does (docs/local.md, "The profile API").

Routes come from the functions' ``Type: HttpApi`` events (method, path with ``{name}``
parameters, the route's ``AuthorizationScopes``); the JWT authorizer, CORS and audience from
the ``AWS::Serverless::HttpApi`` they name. A request is matched to a route, its bearer token
checked as the JWT authorizer checks it (signature by ``kid`` against the issuer's JWKS, ``iss``,
``aud`` or else ``client_id``, ``exp``, ``nbf``, the route's scopes), turned into a payload-format
2.0 event with the claims as API Gateway passes them (strings), and the function's answer
returned. The pure parts (routes, ``authorize``, ``build_event``, ``http_response``) take no
sockets: tests/unit/test_local_http_api.py runs them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.template import ACCOUNT_ID, Resolver, function_of, resources_of_type

API_ID = "local"
UNAUTHORIZED = (401, {"message": "Unauthorized"})
FORBIDDEN = (403, {"message": "Forbidden"})
NOT_FOUND = (404, {"message": "Not Found"})
INTERNAL = (500, {"message": "Internal Server Error"})
CLOCK_SKEW_SECONDS = 60  # an `iat` further in the future than this is refused
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")


@dataclass(frozen=True)
class Route:
    """One ``Type: HttpApi`` event: ``GET /users/{sub}/profile`` -> its function."""

    method: str  # GET, PATCH, ... or ANY
    path: str
    function: str
    api: str  # the HttpApi's logical id
    scopes: tuple[str, ...]
    authorized: bool  # False when the route's Authorizer is NONE or the API has none

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route takes ``method path``, else None."""
        if self.method not in ("ANY", method):
            return None
        wanted, given = self.path.strip("/").split("/"), path.strip("/").split("/")
        if len(wanted) != len(given):
            return None
        parameters = {}
        for pattern, segment in zip(wanted, given, strict=True):
            if pattern.startswith("{") and pattern.endswith("}") and not pattern.endswith("+}"):
                if not segment:
                    return None
                parameters[pattern[1:-1]] = unquote(segment)
            elif pattern != segment:
                return None
        return parameters


def routes(template: Mapping[str, Any], resolver: Resolver) -> list[Route]:
    """Every HttpApi event of the template's functions, most specific first (as API Gateway picks)."""
    apis = resources_of_type(dict(template), "AWS::Serverless::HttpApi")
    found = []
    for name, function in resources_of_type(dict(template), "AWS::Serverless::Function").items():
        if not resolver.included(name):
            continue
        for event in ((function.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api = function_of(props.get("ApiId")) or ""
            auth = props.get("Auth") or {}
            default = ((apis.get(api) or {}).get("Properties") or {}).get("Auth", {}).get("DefaultAuthorizer")
            scopes = tuple(str(scope) for scope in resolver.resolve(auth.get("AuthorizationScopes") or []))
            found.append(
                Route(
                    method=str(props.get("Method", "ANY")).upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
                    path=str(props.get("Path", "/")),
                    function=name,
                    api=api,
                    scopes=scopes,
                    authorized=(auth.get("Authorizer") or default or "NONE") != "NONE",
                )
            )
    return sorted(found, key=lambda route: (route.path.count("{"), route.method == "ANY"))


@dataclass(frozen=True)
class Authorizer:
    """The HttpApi's JWT authorizer: who may issue tokens, for which audiences."""

    issuer: str
    audience: frozenset[str]


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    expose: tuple[str, ...]
    max_age: int | None

    @classmethod
    def from_template(cls, config: Mapping[str, Any]) -> Cors:
        def listed(key: str) -> tuple[str, ...]:
            value = config.get(key) or []
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(item).strip() for item in items if str(item).strip())

        age = config.get("MaxAge")
        return cls(
            listed("AllowOrigins"),
            listed("AllowMethods"),
            listed("AllowHeaders"),
            listed("ExposeHeaders"),
            int(age) if age is not None else None,
        )

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.origins or origin in self.origins)

    def preflight(self, origin: str | None, method: str | None) -> dict[str, str]:
        """The headers of the answer to ``OPTIONS`` (API Gateway answers 204 with or without them)."""
        if not self.allows(origin) or not method or ("*" not in self.methods and method.upper() not in self.methods):
            return {}
        headers = {
            "access-control-allow-origin": str(origin),
            "access-control-allow-methods": ",".join(self.methods),
            "access-control-allow-headers": ",".join(self.headers),
        }
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return headers

    def actual(self, origin: str | None) -> dict[str, str]:
        """The headers added to every answer to an allowed origin."""
        if not self.allows(origin):
            return {}
        headers = {"access-control-allow-origin": str(origin)}
        if self.expose:
            headers["access-control-expose-headers"] = ",".join(self.expose)
        return headers


def api_settings(template: Mapping[str, Any], resolver: Resolver, api: str) -> tuple[Authorizer | None, Cors | None]:
    """The JWT authorizer (the default one) and CORS configuration of HttpApi ``api``, resolved."""
    props = resolver.resolve((template["Resources"].get(api) or {}).get("Properties") or {})
    auth = props.get("Auth") or {}
    authorizers = auth.get("Authorizers") or {}
    jwt_config = (authorizers.get(auth.get("DefaultAuthorizer")) or {}).get("JwtConfiguration")
    authorizer = None
    if jwt_config:
        audience = frozenset(map(str, jwt_config.get("audience") or []))
        authorizer = Authorizer(str(jwt_config.get("issuer", "")), audience)
    cors = props.get("CorsConfiguration")
    return authorizer, (Cors.from_template(cors) if isinstance(cors, dict) else None)


class Denied(Exception):
    """The authorizer refuses the request: API Gateway's status, body and ``www-authenticate``."""

    def __init__(self, answer: tuple[int, dict[str, str]], error: str, description: str, scope: str = "") -> None:
        super().__init__(description)
        self.status, self.body = answer
        self.www_authenticate = f'Bearer scope="{scope}" error="{error}" error_description="{description}"'


def authorize(
    header: str | None, keys: Any, authorizer: Authorizer, route: Route, now: float | None = None
) -> dict[str, Any]:
    """The token's claims if the JWT authorizer lets ``header`` through to ``route``; else ``Denied``.

    ``keys`` is a joserfc ``KeySet`` (the issuer's JWKS). As API Gateway: the ``Bearer`` prefix is
    optional; RS256 by ``kid``; ``iss``; ``aud`` if present, else ``client_id``; ``exp``; ``nbf``; at
    least one of the route's scopes in ``scope`` (or ``scp``), else 403."""
    from joserfc import jws, jwt
    from joserfc.errors import JoseError

    now = time.time() if now is None else now
    token = (header or "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise Denied(UNAUTHORIZED, "invalid_token", "no token in the Authorization header")
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
        if kid not in {key.kid for key in keys.keys}:
            raise Denied(UNAUTHORIZED, "invalid_token", "the token's kid is not in the issuer's JWKS")
        claims = dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise Denied(UNAUTHORIZED, "invalid_token", f"the token cannot be verified ({type(exc).__name__})") from None
    if claims.get("iss") != authorizer.issuer:
        raise Denied(UNAUTHORIZED, "invalid_token", "the token does not have a valid issuer")
    audiences = claims.get("aud") if "aud" in claims else claims.get("client_id")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if not authorizer.audience & {str(item) for item in audiences}:
        raise Denied(UNAUTHORIZED, "invalid_token", "the token does not have a valid audience")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        raise Denied(UNAUTHORIZED, "invalid_token", "the token has expired")
    if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now:
        raise Denied(UNAUTHORIZED, "invalid_token", "the token is not valid yet")
    if isinstance(claims.get("iat"), int | float) and claims["iat"] > now + CLOCK_SKEW_SECONDS:
        raise Denied(UNAUTHORIZED, "invalid_token", "the token was issued in the future")
    if route.scopes:
        granted = str(claims.get("scope") or claims.get("scp") or "").split()
        if not set(granted) & set(route.scopes):
            expected = " ".join(route.scopes)
            raise Denied(FORBIDDEN, "insufficient_scope", f"expected scopes: [{expected}]", expected)
    return claims


def claims_as_passed(claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims as HTTP API hands them to the integration: every value a string, arrays as ``[a b]``."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(map(text, value)) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return {name: text(value) for name, value in claims.items()}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]  # as sent, repeated names kept
    body: bytes
    source_ip: str = "127.0.0.1"


def build_event(
    request: HttpRequest, route: Route, path_parameters: Mapping[str, str], claims: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The payload-format 2.0 event API Gateway sends for ``request`` on ``route``."""
    split = urlsplit(request.target)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name.lower() == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
        else:
            headers[name.lower()] = f"{headers[name.lower()]},{value}" if name.lower() in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    query: dict[str, str] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    host = headers.get("host", "127.0.0.1")
    started = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        **({"cookies": cookies} if cookies else {}),
        "headers": headers,
        **({"queryStringParameters": query} if query else {}),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            **(
                {"authorizer": {"jwt": {"claims": claims_as_passed(claims), "scopes": _scopes(claims, route)}}}
                if claims is not None
                else {}
            ),
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:8]).decode(),
            "routeKey": route.key,
            "stage": "$default",
            "time": started.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(started.timestamp() * 1000),
        },
        **({"pathParameters": dict(path_parameters)} if path_parameters else {}),
        "isBase64Encoded": False,
    }
    if request.body:
        if _is_text(headers.get("content-type", ""), request.body):
            event["body"] = request.body.decode()
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
    return event


def _scopes(claims: Mapping[str, Any], route: Route) -> list[str] | None:
    granted = str(claims.get("scope") or claims.get("scp") or "").split()
    return [scope for scope in granted if scope in route.scopes] if route.scopes else None


def _is_text(content_type: str, body: bytes) -> bool:
    """Whether API Gateway passes the body as text; anything else arrives base64-encoded."""
    kind = content_type.split(";")[0].strip().lower()
    if not any(marker in kind for marker in TEXT_TYPES):
        return False
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def http_response(function_error: str | None, result: Any) -> tuple[int, dict[str, str], bytes]:
    """What API Gateway answers for the function's payload-format 2.0 response."""
    if function_error is not None:
        return INTERNAL[0], {"content-type": "application/json"}, _json(INTERNAL[1])
    if not isinstance(result, dict) or "statusCode" not in result:  # a bare JSON value is the 200 body
        text = result if isinstance(result, str) else json.dumps(result)
        return 200, {"content-type": "application/json"}, text.encode()
    headers = {str(name).lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    body = result.get("body")
    raw = b"" if body is None else str(body).encode()
    if result.get("isBase64Encoded") and body is not None:
        raw = base64.b64decode(str(body))
    return int(result["statusCode"]), headers, raw


Invoke = Callable[[str, dict[str, Any]], tuple[str | None, Any]]  # (function, event) -> (error, result)


class ApiServer(ThreadingHTTPServer):
    """One HttpApi of the template on 127.0.0.1 (a free port): routes, JWT authorizer, CORS."""

    daemon_threads = True

    def __init__(
        self,
        routes: list[Route],
        authorizer: Authorizer | None,
        cors: Cors | None,
        jwks_url: str,
        invoke: Invoke,
    ) -> None:
        self.routes, self.authorizer, self.cors = routes, authorizer, cors
        self.jwks_url, self.invoke = jwks_url, invoke
        self._keys: Any = None
        self._keys_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def keys(self, refresh: bool = False) -> Any:
        """The issuer's JWKS, fetched once (again when a token names a ``kid`` it lacks)."""
        import urllib.request

        from joserfc.jwk import KeySet

        with self._keys_lock:
            if self._keys is None or refresh:
                with urllib.request.urlopen(self.jwks_url, timeout=2) as response:  # noqa: S310 - loopback
                    self._keys = KeySet.import_key_set(json.load(response))
            return self._keys

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def answer(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        """API Gateway's answer to one request."""
        origin = next((value for name, value in request.headers if name.lower() == "origin"), None)
        cors = self.cors.actual(origin) if self.cors else {}
        path = urlsplit(request.target).path
        if request.method == "OPTIONS" and self.cors is not None:
            wanted = next((v for n, v in request.headers if n.lower() == "access-control-request-method"), None)
            return 204, self.cors.preflight(origin, wanted), b""
        for route in self.routes:
            parameters = route.match(request.method, path)
            if parameters is not None:
                break
        else:
            return NOT_FOUND[0], {"content-type": "application/json", **cors}, _json(NOT_FOUND[1])
        claims = None
        if route.authorized and self.authorizer is not None:
            header = next((value for name, value in request.headers if name.lower() == "authorization"), None)
            try:
                claims = self._authorize(header, route)
            except Denied as denied:
                headers = {"content-type": "application/json", "www-authenticate": denied.www_authenticate, **cors}
                return denied.status, headers, _json(denied.body)
        error, result = self.invoke(route.function, build_event(request, route, parameters, claims))
        status, headers, body = http_response(error, result)
        return status, {**headers, **cors}, body

    def _authorize(self, header: str | None, route: Route) -> dict[str, Any]:
        assert self.authorizer is not None
        try:
            return authorize(header, self.keys(), self.authorizer, route)
        except Denied as denied:
            if "kid" not in str(denied):
                raise
            return authorize(header, self.keys(refresh=True), self.authorizer, route)  # the issuer rotated its keys


class _ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the runner reports invocations itself
        return

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = HttpRequest(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        request_id = base64.b64encode(uuid.uuid4().bytes[:8]).decode()
        try:
            status, headers, payload = self.server.answer(request)
        except Exception:  # the runner itself failed: answer as API Gateway does, keep serving
            status, headers, payload = INTERNAL[0], {"content-type": "application/json"}, _json(INTERNAL[1])
        self.send_response(status)
        for name, value in {**headers, "apigw-requestid": request_id, "content-length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


def _json(body: Mapping[str, str]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
