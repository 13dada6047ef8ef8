"""profile-sync's two Cognito triggers on a user pool the stack does not own (ExistingUserPoolId).

CloudFormation cannot set the triggers of a pool it does not own, and UpdateUserPool sets every
parameter it is not given to its default ("If you don't provide a value for an attribute, Amazon
Cognito sets it to its default value",
https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UpdateUserPool.html,
https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-updating.html). So the
pool's configuration is read with DescribeUserPool and written back whole, with only the two
triggers changed. ``attach-triggers`` and ``detach-triggers`` (ops/attach_triggers.py,
ops/detach_triggers.py) are the commands; this module is their logic.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ops.target import Target, TargetError, add_target_arguments, resolve
from shared import fields

POST_CONFIRMATION_OUTPUT = "PostConfirmationFunctionArn"
PRE_TOKEN_OUTPUT = "PreTokenGenerationFunctionArn"

# UpdateUserPool's request parameters besides UserPoolId (API reference above; botocore's model
# is checked against this list by the tests). DescribeUserPool returns each under the same name,
# except the pool's name: Name there, PoolName here. What DescribeUserPool returns besides these
# (Id, Arn, Status, CreationDate, LastModifiedDate, EstimatedNumberOfUsers, SchemaAttributes,
# AliasAttributes, UsernameAttributes, UsernameConfiguration, Domain, CustomDomain,
# Sms/EmailConfigurationFailure) is read-only or set elsewhere, and is never sent.
WRITABLE = (
    "Policies",
    "DeletionProtection",
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "MfaConfiguration",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolTags",
    "AdminCreateUserConfig",
    "UserPoolAddOns",
    "DcrConfiguration",
    "AccountRecoverySetting",
    "PoolName",
    "UserPoolTier",
    "KeyConfiguration",
    "IssuerConfiguration",
    "AcrConfiguration",
)
RENAMED = {"PoolName": "Name"}  # UpdateUserPool's name -> DescribeUserPool's

# Pre-token V2 events (claims in access tokens too) need the Essentials or Plus feature plan
# (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-pre-token-generation.html);
# on Lite the trigger gets V1 events and sets ID token claims only. A pool without UserPoolTier
# predates feature plans: Lite.
V2_TIERS = frozenset({"ESSENTIALS", "PLUS"})
V2_VERSIONS = frozenset({"V2_0", "V3_0"})  # V3_0 adds machine-to-machine grants; the trigger handles both


@dataclass(frozen=True)
class Functions:
    """The ARNs of the stack's two trigger functions."""

    post_confirmation: str
    pre_token: str


def update_request(pool: dict[str, Any]) -> dict[str, Any]:
    """The UpdateUserPool request that writes ``pool`` (a DescribeUserPool ``UserPool``) back unchanged."""
    request: dict[str, Any] = {"UserPoolId": pool["Id"]}
    for parameter in WRITABLE:
        value = pool.get(RENAMED.get(parameter, parameter))
        if value is None or value == {}:  # absent or empty: the default is the same
            continue
        request[parameter] = copy.deepcopy(value)
    # DescribeUserPool still returns the deprecated AdminCreateUserConfig.UnusedAccountValidityDays,
    # and UpdateUserPool refuses it ("Please use TemporaryPasswordValidityDays in PasswordPolicy
    # instead of UnusedAccountValidityDays"): it was replaced by PasswordPolicy.TemporaryPasswordValidityDays
    # (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_AdminCreateUserConfigType.html).
    unused_days = (request.get("AdminCreateUserConfig") or {}).pop("UnusedAccountValidityDays", None)
    if unused_days is not None:
        password = request.setdefault("Policies", {}).setdefault("PasswordPolicy", {})
        password.setdefault("TemporaryPasswordValidityDays", unused_days)
    return request


def pre_token_arn(config: dict[str, Any]) -> str | None:
    """The pre-token function a LambdaConfig names (V2 config or the legacy V1 field)."""
    return (config.get("PreTokenGenerationConfig") or {}).get("LambdaArn") or config.get("PreTokenGeneration")


def _pre_token_version(tier: str | None) -> str:
    return "V2_0" if tier in V2_TIERS else "V1_0"


def attached(config: dict[str, Any], functions: Functions, tier: str | None) -> dict[str, Any]:
    """``config`` (a LambdaConfig) with our two triggers set; every other trigger as it was."""
    result = copy.deepcopy(config)
    result["PostConfirmation"] = functions.post_confirmation
    current = config.get("PreTokenGenerationConfig") or {}
    version = _pre_token_version(tier)
    if current.get("LambdaArn") == functions.pre_token and (
        current.get("LambdaVersion") in V2_VERSIONS if version == "V2_0" else current.get("LambdaVersion") == version
    ):
        version = str(current["LambdaVersion"])  # ours already, at a version the plan allows: kept (V3_0 too)
    # The legacy PreTokenGeneration field and PreTokenGenerationConfig.LambdaArn must hold the same ARN
    # (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_PreTokenGenerationVersionConfigType.html).
    result["PreTokenGeneration"] = functions.pre_token
    result["PreTokenGenerationConfig"] = {"LambdaArn": functions.pre_token, "LambdaVersion": version}
    return result


def detached(config: dict[str, Any], functions: Functions) -> dict[str, Any]:
    """``config`` without our two triggers; another function's trigger is left where it is."""
    result = copy.deepcopy(config)
    if result.get("PostConfirmation") == functions.post_confirmation:
        del result["PostConfirmation"]
    if pre_token_arn(result) == functions.pre_token:
        result.pop("PreTokenGeneration", None)
        result.pop("PreTokenGenerationConfig", None)
    return result


def conflicts(config: dict[str, Any], functions: Functions) -> list[str]:
    """Our triggers that another function holds now: attaching would replace it."""
    found = []
    if config.get("PostConfirmation") not in (None, functions.post_confirmation):
        found.append(f"PostConfirmation is {config['PostConfirmation']}")
    if pre_token_arn(config) not in (None, functions.pre_token):
        found.append(f"PreTokenGeneration is {pre_token_arn(config)}")
    return found


def missing_custom_attributes(pool: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the AddCustomAttributes entries the field map needs and the pool lacks, problems with those it has).

    A custom attribute can be neither removed nor changed once added
    (https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-updating.html),
    so one that exists with another type, immutable or shorter than the field map allows is a problem
    only the field map can solve."""
    existing = {attribute["Name"]: attribute for attribute in pool.get("SchemaAttributes") or []}
    missing, problems = [], []
    for spec in fields.FIELDS:
        name = spec.cognito_attribute
        if not name or not name.startswith("custom:"):
            continue
        wanted = {
            "Name": name.removeprefix("custom:"),
            "AttributeDataType": "String",
            "Mutable": True,
            "StringAttributeConstraints": {"MinLength": "0", "MaxLength": str(spec.max_length)},
        }
        have = existing.get(name)
        if have is None:
            missing.append(wanted)
            continue
        length = (have.get("StringAttributeConstraints") or {}).get("MaxLength")
        if have.get("AttributeDataType") != "String" or not have.get("Mutable", False):
            problems.append(f"{name} exists as an immutable or non-String attribute; the sync cannot write it")
        elif length is not None and spec.max_length is not None and int(length) < spec.max_length:
            problems.append(f"{name} holds at most {length} characters, the field map allows {spec.max_length}")
    return missing, problems


@dataclass
class Plan:
    """What a command would change on one pool."""

    pool_id: str
    tier: str
    request: dict[str, Any]  # the whole UpdateUserPool request, triggers changed
    before: dict[str, Any]  # the pool's LambdaConfig now
    add_attributes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # refuse to write while any
    notes: list[str] = field(default_factory=list)

    @property
    def after(self) -> dict[str, Any]:
        config: dict[str, Any] = self.request.get("LambdaConfig") or {}
        return config

    @property
    def updates_pool(self) -> bool:
        return self.after != self.before

    @property
    def changes_anything(self) -> bool:
        return self.updates_pool or bool(self.add_attributes)


def plan_attach(pool: dict[str, Any], functions: Functions, *, force: bool = False) -> Plan:
    request = update_request(pool)
    before = request.get("LambdaConfig") or {}
    tier = str(pool.get("UserPoolTier") or "LITE")
    request["LambdaConfig"] = attached(before, functions, tier)
    add, problems = missing_custom_attributes(pool)
    if not force:
        problems += [f"{held} (--force replaces it)" for held in conflicts(before, functions)]
    return Plan(pool["Id"], tier, request, before, add, problems)


def plan_detach(pool: dict[str, Any], functions: Functions) -> Plan:
    request = update_request(pool)
    before = request.get("LambdaConfig") or {}
    request["LambdaConfig"] = detached(before, functions)
    if not request["LambdaConfig"]:
        del request["LambdaConfig"]
    notes = [f"{held}: not ours, left" for held in conflicts(before, functions)]
    return Plan(pool["Id"], str(pool.get("UserPoolTier") or "LITE"), request, before, notes=notes)


def _flat(value: Any, prefix: str) -> dict[str, str]:
    if isinstance(value, dict) and value:
        return {path: text for key, inner in value.items() for path, text in _flat(inner, f"{prefix}.{key}").items()}
    return {prefix: json.dumps(value)}


def diff(plan: Plan) -> list[str]:
    """The trigger settings the plan changes, one ``- old`` / ``+ new`` line per setting."""
    old, new = _flat(plan.before, "LambdaConfig"), _flat(plan.after, "LambdaConfig")
    lines = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            lines += [f"  - {path} = {old[path]}"] if path in old else []
            lines += [f"  + {path} = {new[path]}"] if path in new else []
    return lines


# --- the commands -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, *, force: bool) -> None:
    add_target_arguments(parser, table=False)
    functions = parser.add_argument_group("the trigger functions (default: the stack's outputs)")
    functions.add_argument("--post-confirmation-arn", metavar="ARN", help=f"default: output {POST_CONFIRMATION_OUTPUT}")
    functions.add_argument("--pre-token-arn", metavar="ARN", help=f"default: output {PRE_TOKEN_OUTPUT}")
    parser.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    if force:
        parser.add_argument("--force", action="store_true", help="replace another function attached to our triggers")


def function_arns(args: argparse.Namespace, target: Target) -> Functions:
    post = args.post_confirmation_arn or target.outputs.get(POST_CONFIRMATION_OUTPUT)
    pre = args.pre_token_arn or target.outputs.get(PRE_TOKEN_OUTPUT)
    if not post or not pre:
        raise TargetError("name the trigger functions: --stack NAME or --post-confirmation-arn ARN --pre-token-arn ARN")
    for arn in (post, pre):
        if not arn.startswith("arn:") or ":lambda:" not in arn or ":function:" not in arn:
            raise TargetError(f"not a Lambda function ARN: {arn}")
    return Functions(post, pre)


class Unreachable(Exception):
    """Cognito did not answer (endpoint, connection or timeout); the message says which."""


def describe(cognito: Any, pool_id: str) -> dict[str, Any]:
    """The pool, as DescribeUserPool returns it: TargetError if Cognito refuses, Unreachable if it is silent."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pool: dict[str, Any] = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    except ClientError as exc:
        raise TargetError(f"cannot read user pool {pool_id}: {exc.response['Error'].get('Code')}") from None
    except BotoCoreError as exc:
        raise Unreachable(f"cannot read user pool {pool_id}: {type(exc).__name__}: {exc}") from None
    return pool


def apply(cognito: Any, plan: Plan, *, dry_run: bool, say: Callable[[str], None]) -> int:
    """Print the plan and, unless ``dry_run`` or a problem, make its writes: 0 when done, 1 when refused or failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    say(f"user pool {plan.pool_id} (feature plan {plan.tier})")
    lines = diff(plan)
    say("triggers:" if lines else "triggers: unchanged")
    for line in lines:
        say(line)
    if plan.add_attributes:
        names = ", ".join(f"custom:{entry['Name']}" for entry in plan.add_attributes)
        say(f"custom attributes to add (AddCustomAttributes): {names}")
    if plan.updates_pool:
        kept = sorted(set(plan.request) - {"UserPoolId", "LambdaConfig"})
        say(f"every other setting is written back as DescribeUserPool returned it: {', '.join(kept) or 'none'}")
    for note in plan.notes:
        say(note)
    for problem in plan.problems:
        say(f"error: {problem}")
    if plan.problems:
        say("nothing written")
        return 1
    if dry_run:
        say("dry run: nothing written")
        return 0
    if not plan.changes_anything:
        say("nothing to do")
        return 0
    try:
        if plan.add_attributes:
            cognito.add_custom_attributes(UserPoolId=plan.pool_id, CustomAttributes=plan.add_attributes)
        if plan.updates_pool:
            cognito.update_user_pool(**plan.request)
    except (BotoCoreError, ClientError) as exc:
        say(f"error: {type(exc).__name__}: {exc}")
        return 1
    say("done")
    return 0


def attach(cognito: Any, pool_id: str, functions: Functions, *, dry_run: bool = False, force: bool = False,
           say: Callable[[str], None] = print) -> int:  # fmt: skip
    """Attach the two triggers to ``pool_id`` and add the field map's missing custom attributes."""
    try:
        pool = describe(cognito, pool_id)
    except Unreachable as exc:
        say(f"error: {exc}")
        return 1
    return apply(cognito, plan_attach(pool, functions, force=force), dry_run=dry_run, say=say)


def detach(cognito: Any, pool_id: str, functions: Functions, *, dry_run: bool = False,
           say: Callable[[str], None] = print) -> int:  # fmt: skip
    """Remove the two triggers from ``pool_id`` where they are ours; custom attributes stay (they cannot be removed)."""
    try:
        pool = describe(cognito, pool_id)
    except Unreachable as exc:
        say(f"error: {exc}")
        return 1
    return apply(cognito, plan_detach(pool, functions), dry_run=dry_run, say=say)


def run_attach(args: argparse.Namespace) -> int:
    target = resolve(args)
    functions = function_arns(args, target)
    return attach(target.client("cognito-idp"), target.user_pool_id, functions, dry_run=args.dry_run, force=args.force)


def run_detach(args: argparse.Namespace) -> int:
    target = resolve(args)
    functions = function_arns(args, target)
    return detach(target.client("cognito-idp"), target.user_pool_id, functions, dry_run=args.dry_run)
