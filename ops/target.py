"""Which user pool and table a command works on, and the AWS clients it uses.

On AWS: ``--user-pool-id ID --table-name NAME``, or ``--stack NAME`` to read both from the
stack's outputs; credentials, region and ``AWS_ENDPOINT_URL[_<SERVICE>]`` as boto3 finds
them. ``--local``: the stack ``python -m local up`` keeps running (its state file names its
endpoints, pool and table). Every client has explicit timeouts and a bounded retry count:
``--timeout SECONDS`` (how long a request may go without a byte of its answer) and ``--attempts N``
hold a call to a service that never answers for about N x (5 + SECONDS) seconds plus the retries'
backoff: an estimate, since the timeouts bound silences, not a whole request, nor the DNS lookup.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.accounts import Accounts

ROOT = Path(__file__).resolve().parent.parent
LOCAL_STATE = ROOT / ".cache" / "local" / "stack.json"  # written by `python -m local up`
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
MAX_ATTEMPTS = 5  # standard retry mode: throttling is retried with backoff, at most this many tries
# boto3's endpoint variables name a service by its service id, not its client name
SERVICE_IDS = {"cognito-idp": "COGNITO_IDENTITY_PROVIDER", "dynamodbstreams": "DYNAMODB_STREAMS"}


class TargetError(Exception):
    """The command cannot tell (or reach) what to work on; the message says what to pass."""


@dataclass(frozen=True)
class Target:
    """A user pool, the profile table beside it and how to reach them."""

    user_pool_id: str
    table_name: str
    region: str | None = None
    # For the local stack: boto3's endpoint variables and credentials (``Endpoints.environment()``).
    # Empty on AWS: boto3 reads the process's own environment and configuration.
    environment: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # the stack's outputs, when known
    read_timeout: float = READ_TIMEOUT_SECONDS  # how long one request waits for an answer
    max_attempts: int = MAX_ATTEMPTS  # tries per call, the first included
    # made on first use; not an init field, so replace() gives a target with clients of its own limits
    _clients: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client with the ops timeouts and retries."""
        if service not in self._clients:
            self._clients[service] = make_client(
                service, self.region, self.environment, read_timeout=self.read_timeout, max_attempts=self.max_attempts
            )
        return self._clients[service]

    def accounts(self) -> Accounts:
        """Account deletion and export on this pool and table, with these clients."""
        from shared.accounts import Accounts
        from shared.repository import ProfileRepository

        repository = ProfileRepository(self.client("dynamodb"), self.table_name)
        return Accounts(self.client("cognito-idp"), self.user_pool_id, repository)


def make_client(
    service: str,
    region: str | None = None,
    environment: dict[str, str] | None = None,
    *,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    import boto3
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    if not environment:
        return boto3.session.Session(region_name=region).client(service, config=config)
    # The local stack: its endpoints and credentials only, never the developer's AWS profile.
    variable = "AWS_ENDPOINT_URL_" + SERVICE_IDS.get(service, service.upper())
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session = boto3.session.Session(
        botocore_session=core,
        aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY"),
        region_name=region or environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION"),
    )
    return session.client(service, endpoint_url=environment.get(variable) or None, config=config)


def add_target_arguments(parser: argparse.ArgumentParser, *, table: bool = True) -> None:
    """The options that say which pool (and table) a subcommand works on."""
    where = parser.add_argument_group("target (one of: --local, --stack, or the ids)")
    where.add_argument("--user-pool-id", metavar="ID", help="the Cognito user pool")
    if table:
        where.add_argument("--table-name", metavar="NAME", help="the profile table")
    where.add_argument("--stack", metavar="NAME", help="read the pool and table from this stack's outputs")
    where.add_argument("--local", action="store_true", help="the stack `python -m local up` is running")
    where.add_argument("--region", help="AWS region (default: boto3's configuration)")
    patience = parser.add_argument_group("how long a call to AWS may take")
    patience.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive(float),
        default=READ_TIMEOUT_SECONDS,
        help=f"how long one request waits for an answer (default {READ_TIMEOUT_SECONDS:g})",
    )
    patience.add_argument(
        "--attempts",
        metavar="N",
        type=_positive(int),
        default=MAX_ATTEMPTS,
        help=f"tries per call, retried with backoff (default {MAX_ATTEMPTS})",
    )


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number more than 0: {text!r}")
        return value

    return parse


def resolve(args: argparse.Namespace) -> Target:
    """The target the arguments name, or a TargetError saying what is missing (a target handed to
    ``ops.__main__.main`` by an in-process caller comes first)."""
    handed: Target | None = getattr(args, "target", None)
    if handed is not None:
        return handed
    needs_table = hasattr(args, "table_name")
    chosen = [name for name, given in (("--local", args.local), ("--stack", args.stack)) if given]
    if args.user_pool_id or getattr(args, "table_name", None):
        chosen.append("the ids")
    if len(chosen) > 1:
        raise TargetError(f"give one of --local, --stack or the ids, not {' and '.join(chosen)}")
    timeout, attempts = args.timeout, args.attempts
    if args.local:
        return replace(local_target(), read_timeout=timeout, max_attempts=attempts)
    if args.stack:
        return stack_target(args.stack, args.region, read_timeout=timeout, max_attempts=attempts)
    if not args.user_pool_id or (needs_table and not args.table_name):
        wanted = "--user-pool-id ID --table-name NAME" if needs_table else "--user-pool-id ID"
        raise TargetError(f"say what to work on: {wanted}, --stack NAME or --local")
    return Target(args.user_pool_id, getattr(args, "table_name", None) or "", region=args.region,
                  read_timeout=timeout, max_attempts=attempts)  # fmt: skip


def local_target(state_file: Path = LOCAL_STATE) -> Target:
    """The running local stack, from the state file `python -m local up` writes."""
    try:
        state = json.loads(state_file.read_text())
        os.kill(int(state["pid"]), 0)
        outputs = dict(state["outputs"])
        return Target(outputs["UserPoolId"], outputs["ProfileTableName"], environment=state["environment"],
                      outputs=outputs)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        raise TargetError("no local stack is running: start one with `python -m local up`") from None


def stack_target(
    stack_name: str,
    region: str | None = None,
    *,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> Target:
    """The pool and table a deployed stack's outputs name."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = make_client(
            "cloudformation", region, read_timeout=read_timeout, max_attempts=max_attempts
        ).describe_stacks(StackName=stack_name)["Stacks"][0]
    except (BotoCoreError, ClientError) as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in found.get("Outputs", [])}
    missing = [key for key in ("UserPoolId", "ProfileTableName") if not outputs.get(key)]
    if missing:
        raise TargetError(f"stack {stack_name} has no output {' or '.join(missing)}")
    return Target(outputs["UserPoolId"], outputs["ProfileTableName"], region=region, outputs=outputs,
                  read_timeout=read_timeout, max_attempts=max_attempts)  # fmt: skip
