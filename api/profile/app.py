"""The profile API (HTTP API, payload format 2.0, behind a Cognito JWT authorizer).

Routes are dispatched on API Gateway's ``routeKey``; the authorizer has already checked the
token's signature, issuer, client, expiry and scope, so the handler reads the caller from
the claims it passes. It writes DynamoDB only: the stream publishes the change and syncs
Cognito, as for every other write.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from api.profile.requests import (
    ApiError,
    Caller,
    apply_patch,
    etag,
    expected_version,
    needs_current,
    parse_patch,
    representation,
    writable_by,
)
from shared import aws, settings
from shared.accounts import AccountError, Accounts, LookupIncomplete
from shared.observability import MetricUnit, logger, metrics
from shared.profile import Profile, UndecodableProfile
from shared.repository import ProfileRepository, VersionConflict
from shared.settings import env
from shared.triggers import STORE_ERRORS, new_profile

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiSettings:
    profile_table_name: str = env("PROFILE_TABLE_NAME")
    user_pool_id: str = env("USER_POOL_ID")
    admin_group: str = env("ADMIN_GROUP", "profile-admins")
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 1.0)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 2.0)
    max_attempts: int = env("MAX_ATTEMPTS", 2)
    # Where a deletion asks for the profile to be deleted once more, after in-flight writers finish.
    account_deletion_queue_url: str = env("ACCOUNT_DELETION_QUEUE_URL", "")

    def client(self, service: str) -> Any:
        return aws.client_for(service, self)


@dataclasses.dataclass(frozen=True)
class Request:
    caller: Caller
    path: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names, as HTTP API passes them
    body: str | None
    base64: bool


Response = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    route = str(event.get("routeKey") or "")
    try:
        config = settings.load(ApiSettings)
        action = ROUTES.get(route)
        if action is None:
            raise ApiError(404, "not_found", "no such route")
        request = _request(event)
        status, body, headers = action(
            request, config, ProfileRepository(config.client("dynamodb"), config.profile_table_name)
        )
    except ApiError as error:
        status, body, headers = error.status, error.body(), error.headers
    except AccountError as exc:
        status, body, headers = 400, ApiError(400, "invalid_path", str(exc)).body(), {}
    except UndecodableProfile as exc:
        logger.error("Stored profile cannot be read", extra={"attribute": exc.attribute})
        status, body, headers = 500, ApiError(500, "internal", "the stored profile cannot be read").body(), {}
    except LookupIncomplete:
        logger.error("Cognito user lookup incomplete")
        status, body, headers = 503, ApiError(503, "unavailable", "try again shortly").body(), {"retry-after": "1"}
    except STORE_ERRORS as exc:
        logger.error("Profile store unavailable", extra={"error": type(exc).__name__, "code": aws.error_code(exc)})
        status, body, headers = 503, ApiError(503, "unavailable", "try again shortly").body(), {"retry-after": "1"}
    except Exception as exc:  # every request is answered, logged and counted, whatever went wrong
        logger.error("Request failed", extra={"error": type(exc).__name__})
        status, body, headers = 500, ApiError(500, "internal", "the request failed").body(), {}
    metrics.add_dimension(name="route", value=route or "unknown")
    metrics.add_metric(name=f"Status{status // 100}xx", unit=MetricUnit.Count, value=1)
    if status == 412:
        metrics.add_metric(name="Conflicts", unit=MetricUnit.Count, value=1)
    logger.info(
        "Request",
        extra={"route": route, "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store", **headers},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def _request(event: Mapping[str, Any]) -> Request:
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    return Request(
        caller=Caller.from_claims(claims),
        path=event.get("pathParameters") or {},
        headers=headers,
        body=event.get("body"),
        base64=bool(event.get("isBase64Encoded")),
    )


def _ok(profile: Profile) -> Response:
    return 200, representation(profile), {"etag": etag(profile)}


def _admin(request: Request, config: ApiSettings) -> str:
    if config.admin_group not in request.caller.groups:
        raise ApiError(403, "forbidden", f"only members of {config.admin_group} may use this route")
    sub = request.path.get("sub", "")
    if not sub or len(sub) > 128:
        raise ApiError(400, "invalid_path", "the path names no user")
    return sub


def get_me(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    profile = repo.get(request.caller.sub) or _create_from_cognito(request.caller, config, repo)
    return _ok(profile)


def patch_me(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    return _patch(request, request.caller.sub, writable_by(admin=False), repo)


def get_user(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    profile = repo.get(_admin(request, config))
    if profile is None:
        raise ApiError(404, "not_found", "this user has no profile")
    return _ok(profile)


def patch_user(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    return _patch(request, _admin(request, config), writable_by(admin=True), repo)


def _patch(request: Request, sub: str, writable: frozenset[str], repo: ProfileRepository) -> Response:
    """One conditional UpdateItem: on the If-Match version, and on some patched field really changing.

    The profile is read first only when the patch merges an object into an object field. When
    the write's condition fails, the item it returns says why: gone (404), changed since the
    ETag (412), or holding every patched value already (200, nothing written).
    """
    version = expected_version(request.headers.get("if-match"))
    patch = parse_patch(request.body, request.base64, request.headers.get("content-type"))
    profile = None
    if needs_current(patch):
        profile = repo.get(sub)
        if profile is None:
            raise ApiError(404, "not_found", "this user has no profile: GET it first")
        if profile.version != version:
            raise _stale(profile)
    changes = apply_patch(profile, patch, writable)
    if not changes:
        return _ok(profile) if profile is not None else _current(repo, sub)
    try:
        return _ok(repo.update(sub, changes, expected_version=version, only_if_changed=True))
    except VersionConflict as conflict:
        current = conflict.current
        if current is None:
            raise ApiError(404, "not_found", "this user has no profile: GET it first") from None
        if current.version == version:
            return _ok(current)  # it already holds every patched value: nothing written
        raise _stale(current) from None


def _current(repo: ProfileRepository, sub: str) -> Response:
    profile = repo.get(sub)
    if profile is None:
        raise ApiError(404, "not_found", "this user has no profile")
    return _ok(profile)


def _stale(current: Profile | None) -> ApiError:
    headers = {"etag": etag(current)} if current is not None else {}
    return ApiError(412, "precondition_failed", "the profile changed since you read it: GET it again", {}, headers)


def _create_from_cognito(caller: Caller, config: ApiSettings, repo: ProfileRepository) -> Profile:
    """A missing profile (sign-up and sign-in both failed open), created as the triggers would."""
    try:
        user = config.client("cognito-idp").admin_get_user(UserPoolId=config.user_pool_id, Username=caller.username)
    except STORE_ERRORS as exc:
        if aws.error_code(exc) == "UserNotFoundException":
            raise ApiError(404, "not_found", "this user no longer exists") from None
        raise
    attributes = {item["Name"]: item["Value"] for item in user.get("UserAttributes", [])}
    if attributes.get("sub") != caller.sub:
        raise ApiError(404, "not_found", "this user has no profile")
    profile, created = repo.create_if_absent(
        new_profile(caller.sub, str(user.get("Username") or caller.username), attributes)
    )
    logger.info("Profile was missing; created on read" if created else "Profile appeared concurrently")
    return profile


def _accounts(config: ApiSettings, repo: ProfileRepository) -> Accounts:
    sqs = config.client("sqs") if config.account_deletion_queue_url else None
    return Accounts(config.client("cognito-idp"), config.user_pool_id, repo, sqs, config.account_deletion_queue_url)


def delete_me(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    """The caller's account: Cognito user first, then the profile (docs/lifecycle.md). Idempotent."""
    deletion = _accounts(config, repo).delete(request.caller.sub, request.caller.username)
    logger.info("Account deleted by its user", extra=deletion.summary())
    metrics.add_metric(name="AccountsDeleted", unit=MetricUnit.Count, value=1)
    return 200, deletion.summary(), {}


def delete_user(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    """A user's account, for an admin; the user name comes from the profile (or ListUsers when it is gone)."""
    deletion = _accounts(config, repo).delete(_admin(request, config))
    logger.info("Account deleted by an admin", extra=deletion.summary())
    metrics.add_metric(name="AccountsDeleted", unit=MetricUnit.Count, value=1)
    return 200, deletion.summary(), {}


def export_me(request: Request, config: ApiSettings, repo: ProfileRepository) -> Response:
    """The caller's profile, Cognito attributes and dates as one JSON document."""
    try:
        document = _accounts(config, repo).export(request.caller.sub, request.caller.username)
    except UndecodableProfile as exc:
        # Stable code, documented in docs/lifecycle.md: an operator must repair or erase the item.
        logger.error("Stored profile cannot be exported", extra={"attribute": exc.attribute})
        raise ApiError(500, "profile_unreadable", "the stored profile cannot be read; ask support") from None
    if document is None:
        raise ApiError(404, "not_found", "this user no longer exists")
    return 200, document, {}


ROUTES: dict[str, Callable[[Request, ApiSettings, ProfileRepository], Response]] = {
    "GET /me/profile": get_me,
    "PATCH /me/profile": patch_me,
    "GET /users/{sub}/profile": get_user,
    "PATCH /users/{sub}/profile": patch_user,
    "DELETE /me": delete_me,
    "DELETE /users/{sub}": delete_user,
    "GET /me/export": export_me,
}
