"""The support code tests, `make bench`, `make events` and the local stack share: one Lambda
context, one call recorder, one moto stack built from template.yaml, one stream reader and
``deliver``, template.yaml as data, and mixed Cognito users (``mixed_users``).

Standard library only at import: processes that run a function as Lambda does (python3.13
with only boto3, the function's code on sys.path, not the repository) load this file by path
for ``LambdaContext``. Everything else imports what it needs (boto3, moto, the local stack's
template and stream modules, ``shared``) when it is called.
"""

from __future__ import annotations

import importlib
import json
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from local.streams import MappingSpec
    from local.template import FunctionSpec
    from shared.repository import ProfileRepository

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
TABLE = "profiles"  # the profile table's name in the moto stack
SOURCE = "profile-sync.test"  # the moto stack's EventSource: not the default, so a test sees it is the one used

Record = dict[str, Any]
Handler = Callable[[Any, Any], Any]


# --- Lambda's context argument ----------------------------------------------------------


@dataclass
class LambdaContext:
    """The ``context`` Lambda's Python runtime passes. The time left counts down from
    ``timeout`` on ``clock`` from the context's creation, so make one per invocation (a test
    that controls time passes its own clock). ``LambdaContext.of(function)`` takes the
    function's name, Timeout and MemorySize from template.yaml: the triggers' 5 s, the stream
    functions' 60 s."""

    function_name: str = "function"
    timeout: float = 3.0  # seconds: Lambda's default Timeout
    clock: Callable[[], float] = time.monotonic
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = REGION
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def of(cls, function: str, *, clock: Callable[[], float] = time.monotonic) -> LambdaContext:
        """An invocation of template.yaml's ``function`` (a logical id), starting now on ``clock``."""
        spec = function_spec(function)
        return cls(function_name=function, timeout=spec.timeout, clock=clock, memory_limit_in_mb=spec.memory_mb)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (self.clock() - self.started)) * 1000))


# --- template.yaml as data ----------------------------------------------------------------


@cache
def template() -> dict[str, Any]:
    """template.yaml parsed, short-form intrinsics in their long form (cached: treat it as read-only)."""
    from local.template import load_template

    return load_template(TEMPLATE)


def resource(logical_id: str) -> dict[str, Any]:
    """One resource's definition."""
    found: dict[str, Any] = template()["Resources"][logical_id]
    return found


def resources_of_type(*kinds: str) -> dict[str, dict[str, Any]]:
    """The resources of these types, by logical id."""
    from local.template import resources_of_type

    return resources_of_type(template(), *kinds)


def resolved(value: Any, **parameters: str) -> Any:
    """A piece of template.yaml with its intrinsics evaluated for these parameter values (the others
    at their defaults), conditions included; resources resolve to local/template.py's placeholders."""
    from local.template import Resolver

    return Resolver(template(), parameters=dict(parameters)).resolve(value)


def function_spec(logical_id: str) -> FunctionSpec:
    """A function as SAM deploys it: ``Globals.Function`` merged in (handler, timeout, memory, variables)."""
    from local.template import functions

    return functions(template())[logical_id]


def function_environment(logical_id: str) -> dict[str, Any]:
    """A function's environment variables: Globals merged with its own (values unresolved)."""
    return dict(function_spec(logical_id).environment)


def handler_for(logical_id: str) -> Handler:
    """The handler template.yaml names for a function, imported the way Lambda does."""
    module_path, _, attribute = function_spec(logical_id).handler.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_path.replace("/", ".")), attribute)
    return handler


def create_table_kwargs(logical_id: str, table_name: str) -> dict[str, Any]:
    """CreateTable arguments for a table resource (key schema, attributes, stream, billing)."""
    properties = resource(logical_id)["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties["BillingMode"],
    }
    if "StreamSpecification" in properties:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    return kwargs


def stream_mappings() -> dict[str, dict[str, Any]]:
    """The DynamoDB stream event source mappings, by logical id, in SAM's terms (``Stream`` for the
    stream ARN): ``AWS::Lambda::EventSourceMapping`` resources and any SAM ``Type: DynamoDB`` event
    (as "<function>.<event>"). ``Function`` names the function."""
    from local.template import stream_sources

    return {
        (source.logical_id if source.event == source.logical_id else f"{source.function}.{source.event}"): {
            "Function": source.function,
            **source.properties,
        }
        for source in stream_sources(template())
    }


def stream_mapping(function: str) -> MappingSpec:
    """The stream mapping template.yaml gives ``function``, as the local stack runs it."""
    from local.streams import MappingSpec
    from local.template import stream_sources

    (source,) = [source for source in stream_sources(template()) if source.function == function]
    return MappingSpec.from_template(source.function, source.event, source.properties)


def load_event(relative: str) -> dict[str, Any]:
    """A sample event from events/ (a fresh copy: handlers may change the response)."""
    event: dict[str, Any] = json.loads((EVENTS / relative).read_text())
    return event


# samtranslator ships with aws-sam-cli in .cache/tools. It cannot live in .venv: aws-sam-cli
# pins an aws-sam-translator whose pydantic pin conflicts with the functions' (pip reports
# it). So the transform runs in the tools' interpreter, offline: local CodeUris become
# placeholder S3 URIs (as `sam validate` does), the managed-policy map is empty (no IAM
# call) and the Region is us-east-1.
TOOLS_PYTHON = ROOT / ".cache" / "tools" / "bin" / "python"
_TRANSFORM = """
import json, sys
import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
functions = [r.get("Properties", {}) for r in template["Resources"].values()
             if r.get("Type") == "AWS::Serverless::Function"]
for section in [template.get("Globals", {}).get("Function", {}), *functions]:
    if "CodeUri" in section:
        section["CodeUri"] = "s3://placeholder/code.zip"
translator = Translator(
    managed_policy_map={}, sam_parser=Parser(), plugins=[],
    boto_session=boto3.session.Session(region_name="us-east-1"),
)
transformed = translator.translate(
    sam_template=template, parameter_values=json.loads(sys.argv[2]), get_managed_policy_map=lambda: {}
)
json.dump(transformed, sys.stdout)
"""


@cache
def _transform(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    import subprocess

    if not TOOLS_PYTHON.exists():
        raise RuntimeError(f"{TOOLS_PYTHON} is missing: run 'make template' (it installs aws-sam-cli in .cache/tools)")
    result = subprocess.run(  # noqa: S603 - our own interpreter and script, the template path as argument
        [str(TOOLS_PYTHON), "-c", _TRANSFORM, str(TEMPLATE), json.dumps(dict(parameters))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"SAM transform of {TEMPLATE} failed:\n{result.stderr}")
    transformed: dict[str, Any] = json.loads(result.stdout)
    return transformed


def transformed(**parameters: str) -> dict[str, Any]:
    """template.yaml as CloudFormation receives it after the SAM transform, for these parameter
    values (the others at their defaults). Cached: treat it as read-only."""
    return _transform(tuple(sorted(parameters.items())))


def transformed_of_type(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of a type in a transformed template, by logical id."""
    return {name: body for name, body in document["Resources"].items() if body["Type"] == kind}


# --- Cognito users -------------------------------------------------------------------------

KINDS = ("email", "google", "apple", "admin", "unconfirmed", "invalid")
WEIGHTS = (40, 20, 15, 15, 5, 5)


def mixed_users(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """ListUsers entries: email sign-ups, Google and Apple users, admin-created, unconfirmed, and
    users with attribute values that fit no field; ``Kind`` says which. The same ``seed`` gives the same users."""
    chance = random.Random(seed)  # noqa: S311 - test users, not secrets
    users = []
    for index in range(count):
        kind = chance.choices(KINDS, WEIGHTS)[0]
        sub = str(uuid.UUID(int=chance.getrandbits(128), version=4))
        email = f"user{index}@example.com"
        attributes = {"sub": sub, "email": email, "email_verified": "true"}
        status, username = "CONFIRMED", sub
        if kind == "email":
            attributes |= {"name": f"User {index}", "locale": "en-GB"}
        elif kind in ("google", "apple"):
            provider = "Google" if kind == "google" else "SignInWithApple"
            user_id = str(10**20 + index)
            username, status = f"{provider}_{user_id}", "EXTERNAL_PROVIDER"
            identities = [{"userId": user_id, "providerName": provider, "providerType": provider, "primary": "true"}]
            attributes["identities"] = json.dumps(identities)
            if kind == "google":
                attributes |= {"name": f"Googler {index}", "picture": f"https://lh3.example/{index}"}
            else:
                attributes |= {"given_name": "Apple", "family_name": f"User{index}"}
        elif kind == "admin":
            status, attributes["email_verified"] = "FORCE_CHANGE_PASSWORD", "false"
        elif kind == "unconfirmed":
            status, attributes["email_verified"] = "UNCONFIRMED", "false"
        else:  # values no field accepts: a locale that is no language tag, a picture that is not https
            attributes |= {"locale": "not a locale", "picture": f"http://insecure.example/{index}", "name": "Bad\u0007"}
        users.append({
            "Kind": kind,  # not ListUsers': which of KINDS the user is, for tests
            "Username": username,
            "Attributes": [{"Name": name, "Value": value} for name, value in attributes.items()],
            "UserStatus": status,
            "Enabled": True,
        })  # fmt: skip
    return users


def attributes_of(entry: Mapping[str, Any]) -> dict[str, str]:
    """A ListUsers entry's attributes as a dict."""
    return {item["Name"]: item["Value"] for item in entry["Attributes"]}


# --- cognito-local holding many users ----------------------------------------------------------


@dataclass(frozen=True)
class SeededPool:
    """The one user pool of a cognito-local started by ``seeded_cognito_local``."""

    user_pool_id: str
    endpoint: str  # cognito-local's own URL
    path: Path  # the pool's file in cognito-local's data directory

    def client(self) -> Any:
        """A cognito-idp client of this cognito-local."""
        from local.stack import local_client

        return local_client("cognito-idp", self.endpoint)


def cognito_local_record(entry: Mapping[str, Any], when: datetime) -> dict[str, Any]:
    """The record cognito-local 5.3.0 keeps for a ListUsers ``entry`` (as ``mixed_users`` makes), in the shape
    its AdminCreateUser saves: the attributes sorted by name, the temporary password it gives (a federated
    user's too: each of its records holds a password), dates as JavaScript's ``toISOString``; an unconfirmed
    user also holds the confirmation code, as SignUp saves it."""
    from local.processes import COGNITO_LOCAL_CODE

    stamp = when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {
        "Username": entry["Username"],
        "Password": COGNITO_LOCAL_CODE,
        "Attributes": sorted(({"Name": a["Name"], "Value": a["Value"]} for a in entry["Attributes"]), key=_name),
        "Enabled": entry.get("Enabled", True),
        "UserStatus": entry["UserStatus"],
        "UserCreateDate": stamp,
        "UserLastModifiedDate": stamp,
        "RefreshTokens": [],
    }
    if entry["UserStatus"] == "UNCONFIRMED":
        record["ConfirmationCode"] = COGNITO_LOCAL_CODE
    return record


def _name(attribute: Mapping[str, str]) -> str:
    return attribute["Name"]


@contextmanager
def seeded_cognito_local(entries: Sequence[Mapping[str, Any]], pool_name: str = "seeded") -> Iterator[SeededPool]:
    """A cognito-local of its own, stopped on exit, whose one user pool holds ``entries`` (ListUsers entries:
    user names, attributes and statuses kept, federated users included, which cognito-local cannot make).

    Its AdminCreateUser rewrites the pool's whole file for each user, so 5,000 users take minutes that way;
    written straight into the file they take a second. cognito-local reads a pool's file only when it starts
    (its README: edit the file, then restart), so it starts once for CreateUserPool to write the pool's file
    (the pool's settings are its own), stops, gets the users in that file, and starts again."""
    from local import processes
    from local.stack import local_client

    supervisor = processes.Supervisor()
    try:
        home, port = supervisor.workdir / "cognito", processes.free_port()
        config = {"ServerConfig": {"hostname": "127.0.0.1", "port": port}}
        endpoint = f"http://127.0.0.1:{port}"

        def start(name: str) -> processes.Child:
            child = processes.start_cognito_local(supervisor, home, config, name)
            processes.wait_until(lambda: processes.http_ok(f"{endpoint}/health"), child)
            return child

        first = start("cognito-local-empty")
        pool_id = local_client("cognito-idp", endpoint).create_user_pool(PoolName=pool_name)["UserPool"]["Id"]
        first.kill(signal.SIGTERM)
        first.process.wait(timeout=10)
        path = home / ".cognito" / "db" / f"{pool_id}.json"
        stored = json.loads(path.read_text())
        now = datetime.now(UTC)
        stored["Users"] = {entry["Username"]: cognito_local_record(entry, now) for entry in entries}
        path.write_text(json.dumps(stored, indent=2))
        start("cognito-local")
        yield SeededPool(pool_id, endpoint, path)
    finally:
        supervisor.stop()


# --- AWS calls ------------------------------------------------------------------------------


class Call(NamedTuple):
    service: str  # botocore's name: dynamodb, events, sqs, cognito-idp
    operation: str  # PutItem, PutEvents, ...
    params: dict[str, Any]  # as the caller passed them, JSON-typed


@dataclass
class CallRecorder:
    """Every AWS API call made through a session's clients, in order: counted once per call
    (botocore's retries aside), whether the service answers or a test's hook does."""

    made: list[Call] = field(default_factory=list)

    def install(self, session: Any) -> CallRecorder:
        """Record the calls of ``session``'s clients created from now on (clients copy its hooks)."""
        session.events.register("before-parameter-build", self._record)
        return self

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append(
            Call(model.service_model.service_name, model.name, json.loads(json.dumps(params, default=str)))
        )

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.made]

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.operations)

    def of(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of each call of ``operation`` (e.g. ``PutEvents``), in order."""
        return [call.params for call in self.made if call.operation == operation]

    def services(self) -> set[str]:
        return {call.service for call in self.made}

    def clear(self) -> None:
        self.made.clear()


# --- the table's stream ----------------------------------------------------------------------


class StreamReader:
    """Reads a table's stream from its start; each ``read()`` returns the records written since
    the last, in Lambda's event format (``local.streams.lambda_record``)."""

    def __init__(self, stream_arn: str, session: Any) -> None:
        from botocore.config import Config

        self.stream_arn = stream_arn
        # botocore sends stream calls to an account-based endpoint moto does not serve.
        self._client = session.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
        self._seen = 0

    def read(self) -> list[Record]:
        from local.streams import lambda_record

        records = []
        for shard in self._client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            iterator = self._client.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = self._client.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(response["Records"])
                if not response["Records"]:
                    break
                iterator = response.get("NextShardIterator")
        fresh, self._seen = records[self._seen :], len(records)
        return [lambda_record(record, self.stream_arn) for record in fresh]


def deliver(
    handler: Callable[[dict[str, Any]], Any],
    records: Sequence[Record],
    function: str,
    *,
    batch_size: int | None = None,
    max_invocations: int = 1000,
) -> int:
    """Hand ``records`` to ``handler`` (``{"Records": [...]}`` -> its response) as template.yaml's
    stream mapping of ``function`` would, run by the local stack's model of Lambda's event source
    mapping (``local.streams.deliver``): its filter, batch size and ReportBatchItemFailures. A batch
    is retried from its first reported failure until it succeeds or ``max_invocations`` are spent
    in all; an exception from ``handler`` propagates (a test wants it loud). Returns the invocations."""
    from local.streams import deliver as deliver_batch

    spec = stream_mapping(function)
    spec = replace(spec, batch_size=batch_size or spec.batch_size)
    chosen = [record for record in records if spec.matches(record)]
    invocations = 0

    def invoke(batch: list[Record]) -> tuple[None, Any]:
        nonlocal invocations
        invocations += 1
        return None, handler({"Records": batch})

    for start in range(0, len(chosen), spec.batch_size):
        if invocations >= max_invocations:
            break
        budget = replace(spec, max_retries=max_invocations - invocations - 1)
        deliver_batch(chosen[start : start + spec.batch_size], budget, invoke, sleep=lambda _: None)
    return invocations


# --- the application under moto --------------------------------------------------------------


@cache
def _models() -> Any:
    """One botocore loader for every session of the process: service models parse once, not per stack."""
    import botocore.session

    return botocore.session.get_session().get_component("data_loader")


def _session() -> Any:
    """A boto3 session in the stack's Region whose clients go to moto whatever AWS_ENDPOINT_URL* say."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _models())
    core.set_config_variable("ignore_configured_endpoint_urls", True)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


@dataclass
class MotoStack:
    """The application's resources under moto, shaped and named as template.yaml declares them.

    ``session`` is boto3's default session while the stack runs: the clients the functions create
    come from it, and ``calls`` records theirs. The stack's own clients (``dynamodb``, the stream,
    the queues) have a session of their own, so what they do is never counted.
    """

    session: Any
    dynamodb: Any
    repository: ProfileRepository
    stream: StreamReader
    calls: CallRecorder
    table_name: str
    event_source: str
    refs: dict[str, str]  # logical id -> what Ref gives here, for the resources the stack built
    bus_name: str = ""
    consumer_queue_url: str = ""
    dead_letter_queue_url: str = ""
    user_pool_id: str = ""
    sqs: Any = None  # the stack's own SQS client

    def environment(self, *functions: str) -> dict[str, str]:
        """The variables template.yaml gives ``functions`` (every function when none is named; a
        later function's value wins), resolved against this stack's resources and parameters."""
        from local.template import Resolver

        variables: dict[str, Any] = {}
        for function in functions or sorted(resources_of_type("AWS::Serverless::Function")):
            variables.update(function_environment(function))
        resolver = Resolver(template(), refs=dict(self.refs), parameters={"EventSource": self.event_source})
        return {name: str(value) for name, value in resolver.resolve(variables).items()}

    def received(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Drain a queue (the example consumer's by default); the bodies in arrival order."""
        url = queue_url or self.consumer_queue_url
        bodies = []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def dead_letters(self) -> list[dict[str, Any]]:
        """Drain the stream dead-letter queue."""
        return self.received(self.dead_letter_queue_url)


@contextmanager
def moto_stack(*, table_only: bool = False, table_name: str = TABLE, event_source: str = SOURCE) -> Iterator[MotoStack]:
    """template.yaml's resources under moto (``mock_aws``): the profile table with its key schema
    and stream; unless ``table_only`` (all the triggers use), also the event bus, the example
    consumer's rule and queue, the stream dead-letter queue, the account deletion queue and the
    user pool with the template's schema. Functions read their settings from the process environment: apply
    ``stack.environment()`` (tests: with monkeypatch). The clients and settings the functions
    cached are forgotten on entry and exit."""
    import boto3
    from moto import mock_aws

    from local.template import Resolver
    from shared import aws, settings
    from shared.repository import ProfileRepository

    with mock_aws():
        aws.reset()
        settings.load.cache_clear()
        own = _session()
        dynamodb, sqs = own.client("dynamodb"), own.client("sqs")
        table = dynamodb.create_table(**create_table_kwargs("ProfileTable", table_name))["TableDescription"]
        refs = {"ProfileTable": table_name}
        names: dict[str, str] = {}
        if not table_only:
            resolver = Resolver(template(), parameters={"EventSource": event_source})

            def named(logical_id: str, key: str) -> str:
                return str(resolver.resolve(resource(logical_id)["Properties"][key]))

            events, cognito = own.client("events"), own.client("cognito-idp")
            bus = named("ProfileEventBus", "Name")
            events.create_event_bus(Name=bus)
            consumer = sqs.create_queue(QueueName=named("ExampleConsumerQueue", "QueueName"))["QueueUrl"]
            consumer_arn = sqs.get_queue_attributes(QueueUrl=consumer, AttributeNames=["QueueArn"])["Attributes"]
            rule = resource("ExampleConsumerRule")["Properties"]
            events.put_rule(
                Name="ExampleConsumerRule",
                EventBusName=bus,
                EventPattern=json.dumps(resolver.resolve(rule["EventPattern"])),
            )
            events.put_targets(
                Rule="ExampleConsumerRule",
                EventBusName=bus,
                Targets=[{"Id": rule["Targets"][0]["Id"], "Arn": consumer_arn["QueueArn"]}],
            )
            dead_letters = sqs.create_queue(QueueName=named("StreamDeadLetterQueue", "QueueName"))["QueueUrl"]
            # without the template's delivery delay: moto would hold messages back in real time
            deletions = sqs.create_queue(QueueName=named("AccountDeletionQueue", "QueueName"))["QueueUrl"]
            schema = [  # moto refuses the standard email attribute in a schema; Required is for sign-up
                {key: value for key, value in attribute.items() if key != "Required"}
                for attribute in resource("UserPool")["Properties"]["Schema"]
                if attribute["Name"] != "email"
            ]
            pool = cognito.create_user_pool(PoolName=named("UserPool", "UserPoolName"), Schema=schema)["UserPool"]["Id"]
            names = {
                "bus_name": bus,
                "consumer_queue_url": consumer,
                "dead_letter_queue_url": dead_letters,
                "user_pool_id": pool,
            }
            refs |= {
                "ProfileEventBus": bus,
                "ExampleConsumerQueue": consumer,
                "StreamDeadLetterQueue": dead_letters,
                "AccountDeletionQueue": deletions,
                "UserPool": pool,
            }
        functions = _session()
        boto3.DEFAULT_SESSION = functions
        try:
            yield MotoStack(
                session=functions,
                dynamodb=dynamodb,
                repository=ProfileRepository(dynamodb, table_name),
                stream=StreamReader(table["LatestStreamArn"], own),
                calls=CallRecorder().install(functions),
                table_name=table_name,
                event_source=event_source,
                refs=refs,
                sqs=sqs,
                **names,
            )
        finally:
            boto3.DEFAULT_SESSION = None
            aws.reset()
            settings.load.cache_clear()
