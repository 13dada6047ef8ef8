"""The local stack: DynamoDB Local, cognito-local and a moto server, provisioned from template.yaml.

``Stack`` starts the three components on loopback (free ports), creates the table, the user
pool and its client, the queues, event buses and rules the template declares, serves the
template's functions behind Lambda's Invoke API and runs their stream event source
mappings. ``stop`` (also on exit, Ctrl-C or SIGTERM) leaves nothing running.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import processes
from local.cognito_events import PoolBehaviour
from local.cognito_proxy import CognitoProxy
from local.lambda_runtime import InvokeServer, Runtime, function_arn, local_environment
from local.streams import FailedBatch, MappingPoller, MappingSpec, failure_message, failure_object
from local.template import (
    REGION,
    STACK_NAME,
    Resolver,
    function_of,
    functions,
    load_template,
    resources_of_type,
    stream_sources,
)

ROOT = processes.ROOT
STATE_FILE = ROOT / ".cache" / "local" / "stack.json"
READY_TIMEOUT_SECONDS = 60.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
COGNITO_TRIGGERS = (
    "PreSignUp",
    "PostConfirmation",
    "PreAuthentication",
    "PostAuthentication",
    "PreTokenGeneration",
    "CustomMessage",
    "UserMigration",
)
log = logging.getLogger("local.stack")


@dataclass(frozen=True)
class Endpoints:
    dynamodb: str
    cognito: str  # the Cognito API: cognito-local behind local.cognito_proxy
    cognito_issuer: str  # cognito-local itself: token issuer, JWKS, health
    moto: str
    lambda_: str

    def environment(self) -> dict[str, str]:
        """boto3's standard endpoint variables, pointing every client at the local stack."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.dynamodb,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.cognito,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.moto,
            "AWS_ENDPOINT_URL_SQS": self.moto,
            "AWS_ENDPOINT_URL_SNS": self.moto,
            "AWS_ENDPOINT_URL_S3": self.moto,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            **CREDENTIALS,
        }


class Stack:
    """Start with ``with Stack() as stack:`` (or ``start()``/``stop()``)."""

    def __init__(self, template_path: Path = ROOT / "template.yaml", say: Callable[[str], None] | None = None) -> None:
        self.template_path = template_path
        self.template = load_template(template_path)
        self.say = say or (lambda message: None)
        self.resolver = Resolver(self.template)
        self.specs = {name: spec for name, spec in functions(self.template).items() if self.resolver.included(name)}
        self.supervisor: processes.Supervisor | None = None
        self.server: InvokeServer | None = None
        self.cognito_proxy: CognitoProxy | None = None
        self.runtime: Runtime | None = None
        self.endpoints: Endpoints | None = None
        self.pollers: list[MappingPoller] = []
        self.queue_urls: dict[str, str] = {}  # logical id -> URL
        self.queue_by_arn: dict[str, str] = {}  # ARN -> URL
        self.buckets: dict[str, str] = {}  # logical id -> bucket name
        self.user_pool_id = ""
        self.client_id = ""
        self.table_name = ""
        self.stream_arn = ""
        self.timings: dict[str, float] = {}
        self._clients: dict[str, Any] = {}

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        """Start and provision everything; on any failure, stop what was started and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Stack:
        began = time.perf_counter()
        processes.check_tools()
        processes.install_npm_packages(self.say)
        processes.require_npm_packages()
        self.supervisor = processes.Supervisor()
        self.server = InvokeServer(runtime=None)  # type: ignore[arg-type]  # bound now, serving once provisioned
        ports = {name: processes.free_port() for name in ("dynamodb", "cognito", "moto")}
        self.cognito_proxy = CognitoProxy(ports["cognito"]).start()
        self.endpoints = Endpoints(
            dynamodb=f"http://127.0.0.1:{ports['dynamodb']}",
            cognito=self.cognito_proxy.url,
            cognito_issuer=f"http://127.0.0.1:{ports['cognito']}",
            moto=f"http://127.0.0.1:{ports['moto']}",
            lambda_=self.server.url,
        )
        dynamodb = self._start_dynamodb(ports["dynamodb"])
        cognito = self._start_cognito(ports["cognito"])
        moto = self.supervisor.start(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports["moto"])],
        )
        import boto3  # noqa: F401 - warm imports while the components boot

        endpoints = self.endpoints
        processes.wait_until(lambda: processes.http_ok(f"{endpoints.moto}/moto-api/"), moto, READY_TIMEOUT_SECONDS)
        processes.wait_until(
            lambda: processes.http_ok(f"{endpoints.cognito_issuer}/health"), cognito, READY_TIMEOUT_SECONDS
        )
        processes.wait_until(self._dynamodb_ready, dynamodb, READY_TIMEOUT_SECONDS)
        self.timings["components"] = time.perf_counter() - began
        self._provision()
        self.timings["provisioned"] = time.perf_counter() - began
        self._start_functions()
        self.timings["ready"] = time.perf_counter() - began
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=2)
        self.pollers = []
        if self.server is not None:
            if self.server.thread.is_alive():
                self.server.stop()
            else:
                self.server.server_close()
            self.server = None
        if self.cognito_proxy is not None:
            self.cognito_proxy.stop()
            self.cognito_proxy = None
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        self._clients = {}

    # --- components ------------------------------------------------------------------

    def _start_dynamodb(self, port: int) -> processes.Child:
        assert self.supervisor is not None
        lib = processes.DYNAMODB_LOCAL
        jars = sorted(lib.glob("*/DynamoDBLocal.jar"))
        if not jars:
            raise processes.MissingPrerequisite(f"DynamoDBLocal.jar not found under {lib}: run 'make local-deps'")
        home = jars[-1].parent
        command = [
            "java",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(home / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-port",
            str(port),
            "-disableTelemetry",
        ]
        return self.supervisor.start("dynamodb-local", command, cwd=home)

    def _dynamodb_ready(self) -> bool:
        self.client("dynamodb").list_tables(Limit=1)
        return True

    def _cognito_config(self, port: int) -> dict[str, Any]:
        assert self.endpoints is not None
        triggers: dict[str, str] = {}
        pool = self.user_pool()
        config = ((pool or {}).get("Properties") or {}).get("LambdaConfig") or {}
        for trigger in COGNITO_TRIGGERS:
            name = function_of(config.get(trigger))
            if name in self.specs:
                triggers[trigger] = name
        pre_token = function_of((config.get("PreTokenGenerationConfig") or {}).get("LambdaArn"))
        if pre_token in self.specs:
            triggers["PreTokenGeneration"] = pre_token
        return {
            "LambdaClient": {
                "endpoint": f"{self.endpoints.lambda_}/cognito-local",
                "region": REGION,
                "credentials": {"accessKeyId": "local", "secretAccessKey": "local"},
                "maxRetries": 0,
                "httpOptions": {"timeout": 10000, "connectTimeout": 1000},
            },
            "TriggerFunctions": triggers,
            "TokenConfig": {"IssuerDomain": f"http://127.0.0.1:{port}"},
            "ServerConfig": {"hostname": "127.0.0.1", "port": port},
        }

    def _start_cognito(self, port: int) -> processes.Child:
        assert self.supervisor is not None
        home = self.supervisor.workdir / "cognito"
        (home / ".cognito").mkdir(parents=True)
        (home / ".cognito" / "config.json").write_text(json.dumps(self._cognito_config(port), indent=2))
        env = {"CODE": "123456", "PORT": str(port), "HOST": "127.0.0.1", "NODE_NO_WARNINGS": "1"}
        return self.supervisor.start("cognito-local", ["node", str(processes.COGNITO_LOCAL)], cwd=home, env=env)

    def client(self, service: str) -> Any:
        """A boto3 client for the local stack (timeouts and retries bounded)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            assert self.endpoints is not None
            endpoint = {
                "dynamodb": self.endpoints.dynamodb,
                "dynamodbstreams": self.endpoints.dynamodb,
                "cognito-idp": self.endpoints.cognito,
                "lambda": self.endpoints.lambda_,
            }.get(service, self.endpoints.moto)
            config = Config(
                connect_timeout=1,
                read_timeout=15,
                retries={"mode": "standard", "total_max_attempts": 2},
                s3={"addressing_style": "path"},
            )
            with local_environment({}):  # a developer's AWS_PROFILE must not break local clients
                self._clients[service] = boto3.session.Session().client(
                    service,
                    endpoint_url=endpoint,
                    region_name=REGION,
                    aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=config,
                )
        return self._clients[service]

    # --- provisioning ----------------------------------------------------------------

    def user_pool(self) -> dict[str, Any] | None:
        pools = [
            spec
            for name, spec in resources_of_type(self.template, "AWS::Cognito::UserPool").items()
            if self.resolver.included(name)
        ]
        return pools[0] if pools else None

    def _props(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolver.resolve(self.template["Resources"][logical_id].get("Properties") or {})
        return resolved

    def _included(self, *types: str) -> list[str]:
        return [name for name in resources_of_type(self.template, *types) if self.resolver.included(name)]

    def _provision(self) -> None:
        for name in self.specs:
            self.resolver.refs[name] = name
            self.resolver.attributes[(name, "Arn")] = function_arn(name)
        self._create_buckets()
        self._create_queues()
        self._create_buses()
        self._create_tables()
        self._create_user_pool()
        self._create_rules()

    def _create_buckets(self) -> None:
        s3 = self.client("s3")
        for name in self._included("AWS::S3::Bucket"):
            bucket = self._props(name).get("BucketName") or f"{STACK_NAME}-{name}".lower()[:63]
            s3.create_bucket(Bucket=bucket)
            self.buckets[name] = bucket
            self.resolver.refs[name] = bucket
            self.resolver.attributes.update(
                {(name, "Arn"): f"arn:aws:s3:::{bucket}", (name, "DomainName"): f"{bucket}.s3.amazonaws.com"}
            )

    def _create_queues(self) -> None:
        sqs = self.client("sqs")
        pending = self._included("AWS::SQS::Queue")
        # Queues named in another queue's RedrivePolicy come first.
        pending.sort(key=lambda name: "RedrivePolicy" in (self.template["Resources"][name].get("Properties") or {}))
        for name in pending:
            props = self._props(name)
            queue_name = props.get("QueueName") or (f"{name}.fifo" if props.get("FifoQueue") else name)
            attributes = {
                key: json.dumps(value)
                if isinstance(value, dict)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
                for key, value in props.items()
                if key in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "FifoQueue", "DelaySeconds")
            }
            url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.queue_urls[name] = url
            self.queue_by_arn[arn] = url
            self.resolver.refs[name] = url
            self.resolver.attributes.update(
                {(name, "Arn"): arn, (name, "QueueName"): queue_name, (name, "QueueUrl"): url}
            )

    def _create_buses(self) -> None:
        events = self.client("events")
        for name in self._included("AWS::Events::EventBus"):
            bus = self._props(name).get("Name") or name
            arn = events.create_event_bus(Name=bus)["EventBusArn"]
            self.resolver.refs[name] = bus
            self.resolver.attributes.update({(name, "Arn"): arn, (name, "Name"): bus})

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for name in self._included("AWS::DynamoDB::Table"):
            props = self._props(name)
            table = props.get("TableName") or name
            request: dict[str, Any] = {
                "TableName": table,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PROVISIONED"),
            }
            if request["BillingMode"] == "PROVISIONED":
                request["ProvisionedThroughput"] = props.get(
                    "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
                )
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if props.get(key):
                    request[key] = props[key]
            stream = props.get("StreamSpecification")
            if stream:
                request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
            description = dynamodb.create_table(**request)["TableDescription"]
            self.resolver.refs[name] = table
            self.resolver.attributes[(name, "Arn")] = description["TableArn"]
            if description.get("LatestStreamArn"):
                self.resolver.attributes[(name, "StreamArn")] = description["LatestStreamArn"]
            if not self.table_name:
                self.table_name = table
                self.stream_arn = description.get("LatestStreamArn", "")

    def _create_user_pool(self) -> None:
        cognito = self.client("cognito-idp")
        for name in self._included("AWS::Cognito::UserPool"):
            props = self._props(name)
            request: dict[str, Any] = {
                "PoolName": props.get("UserPoolName") or name,
                **{
                    key: props[key]
                    for key in ("UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes", "Schema", "Policies")
                    if key in props
                },
            }
            pool = cognito.create_user_pool(**request)["UserPool"]
            self.resolver.refs[name] = pool["Id"]
            self.resolver.attributes.update(
                {
                    (name, "Arn"): pool["Arn"],
                    (name, "ProviderName"): f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
                    (name, "ProviderURL"): f"{self.endpoints.cognito_issuer}/{pool['Id']}",  # type: ignore[union-attr]
                }
            )
            self.user_pool_id = self.user_pool_id or pool["Id"]
        for name in self._included("AWS::Cognito::UserPoolClient"):
            props = self._props(name)
            request = {
                "UserPoolId": props["UserPoolId"],
                "ClientName": props.get("ClientName") or name,
                **{
                    key: props[key]
                    for key in ("ExplicitAuthFlows", "ReadAttributes", "WriteAttributes")
                    if key in props
                },
            }
            client_id = cognito.create_user_pool_client(**request)["UserPoolClient"]["ClientId"]
            self.resolver.refs[name] = client_id
            self.client_id = self.client_id or client_id

    def _create_rules(self) -> None:
        events = self.client("events")
        for name in self._included("AWS::Events::Rule"):
            props = self._props(name)
            rule = props.get("Name") or name
            request = {"Name": rule, "State": props.get("State", "ENABLED")}
            if props.get("EventBusName"):
                request["EventBusName"] = props["EventBusName"]
            if props.get("EventPattern"):
                pattern = props["EventPattern"]
                request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
            if props.get("ScheduleExpression"):
                continue  # schedules do not fire locally
            arn = events.put_rule(**request)["RuleArn"]
            kept = (
                "Id",
                "Arn",
                "Input",
                "InputPath",
                "InputTransformer",
                "SqsParameters",
                "DeadLetterConfig",
                "RetryPolicy",
            )
            targets = [
                {key: value for key, value in target.items() if key in kept}
                for target in props.get("Targets") or []
                if ":sqs:" in str(target.get("Arn", ""))
            ]
            if targets:
                events.put_targets(Rule=rule, EventBusName=request.get("EventBusName", "default"), Targets=targets)
            self.resolver.refs[name] = rule
            self.resolver.attributes[(name, "Arn")] = arn

    # --- functions -------------------------------------------------------------------

    def pool_behaviour(self) -> PoolBehaviour:
        props = (self.user_pool() or {}).get("Properties") or {}
        version = ((props.get("LambdaConfig") or {}).get("PreTokenGenerationConfig") or {}).get("LambdaVersion", "V1_0")
        return PoolBehaviour(
            region=REGION,
            auto_verifies_email="email" in (props.get("AutoVerifiedAttributes") or []),
            pre_token_version=str(version)[1],
        )

    def function_environment(self, name: str) -> dict[str, str]:
        variables = self.resolver.resolve(self.specs[name].environment)
        assert self.endpoints is not None
        return {**self.endpoints.environment(), **{key: str(value) for key, value in variables.items()}}

    def _start_functions(self) -> None:
        assert self.server is not None
        environments = {name: self.function_environment(name) for name in self.specs}
        self.runtime = Runtime(self.specs, environments, self.pool_behaviour())
        self.server.runtime = self.runtime
        self.server.start()
        for source in stream_sources(self.template):
            if source.function not in self.specs or not self.resolver.included(source.logical_id):
                continue
            props = self.resolver.resolve(source.properties)
            if str(props.get("Enabled", True)).lower() == "false":
                continue
            mapping = MappingSpec.from_template(source.function, source.event, props)
            stream_arn = str(props.get("Stream", self.stream_arn))
            poller = MappingPoller(
                mapping,
                self.client("dynamodbstreams"),
                stream_arn,
                self._batch_invoker(source.function),
                self._failure_sender(mapping, stream_arn),
            )
            poller.start()
            self.pollers.append(poller)

    def _batch_invoker(self, name: str) -> Callable[[list[dict[str, Any]]], tuple[str | None, Any]]:
        def invoke(records: list[dict[str, Any]]) -> tuple[str | None, Any]:
            assert self.runtime is not None
            invocation = self.runtime.invoke(name, {"Records": records}, source="stream", wait=30)
            return invocation.function_error, invocation.result()

        return invoke

    def _failure_sender(self, mapping: MappingSpec, stream_arn: str) -> Callable[[FailedBatch, str], None]:
        def send(failed: FailedBatch, shard_id: str) -> None:
            destination = mapping.on_failure or ""
            arn = function_arn(mapping.function)
            if destination.startswith("arn:aws:s3:::"):
                key, body = failure_object(failed, mapping, arn, shard_id, stream_arn)
                bucket = destination.removeprefix("arn:aws:s3:::")
                self.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
                return
            url = self.queue_by_arn.get(destination)
            if url is None:
                log.warning(
                    "%s: %d records dropped (no SQS or S3 on-failure destination)", mapping.name, len(failed.records)
                )
                return
            self.client("sqs").send_message(
                QueueUrl=url, MessageBody=failure_message(failed, mapping, arn, shard_id, stream_arn)
            )

        return send

    # --- helpers for commands and tests ----------------------------------------------

    def wait_for_streams(self, timeout: float = 5.0) -> bool:
        """Wait until every stream mapping has delivered what the stream holds (True if it did in time)."""
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.idle.clear()
        return all(poller.idle.wait(max(0.0, deadline - time.monotonic())) for poller in self.pollers)

    def state(self) -> dict[str, Any]:
        assert self.endpoints is not None
        return {
            "pid": os.getpid(),
            "endpoints": self.endpoints.__dict__,
            "user_pool_id": self.user_pool_id,
            "client_id": self.client_id,
            "table_name": self.table_name,
            "queues": self.queue_urls,
            "buckets": self.buckets,
            "functions": sorted(self.specs),
        }

    def write_state(self) -> None:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(self.state(), indent=2))

    @staticmethod
    def clear_state() -> None:
        STATE_FILE.unlink(missing_ok=True)
