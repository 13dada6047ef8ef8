"""The local stack: DynamoDB Local, cognito-local and a moto server, provisioned from template.yaml.

``Stack`` starts the three components on free ports, creates the table, the user pool and
its client, the queues, buckets, event buses and rules the template declares, starts the
template's functions behind Lambda's Invoke API and runs their stream and SQS event source
mappings. ``stop`` (also on exit, Ctrl-C or SIGTERM) leaves nothing running.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from local import processes
from local.cognito_local import PoolBehaviour
from local.http_api import ApiServer, api_settings, routes
from local.lambda_runtime import InvokeServer, Runtime, function_arn
from local.queues import QueuePoller, QueueSpec
from local.streams import MappingPoller, MappingSpec
from local.template import (
    REGION,
    STACK_NAME,
    Resolver,
    TemplateError,
    function_of,
    functions,
    load_template,
    queue_sources,
    stream_sources,
)

ROOT = processes.ROOT
STATE_FILE = ROOT / ".cache" / "local" / "stack.json"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
PROVISIONING_CLIENTS = ("s3", "sqs", "events", "dynamodb", "cognito-idp", "dynamodbstreams")
COGNITO_TRIGGERS = (
    "PreSignUp",
    "PostConfirmation",
    "PreAuthentication",
    "PostAuthentication",
    "PreTokenGeneration",
    "CustomMessage",
)


@dataclass(frozen=True)
class Endpoints:
    dynamodb: str
    cognito: str  # the Cognito API: cognito-local, through the runner (one error corrected)
    cognito_issuer: str  # cognito-local itself: token issuer, JWKS, health
    moto: str
    lambda_: str
    api: str = ""  # the template's HTTP API (no AWS endpoint variable names it)

    def environment(self) -> dict[str, str]:
        """boto3's standard endpoint variables, pointing every client at the local stack."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.dynamodb,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.cognito,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.moto,
            "AWS_ENDPOINT_URL_SQS": self.moto,
            "AWS_ENDPOINT_URL_S3": self.moto,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            **CREDENTIALS,
        }


def local_client(service: str, endpoint: str) -> Any:
    """A boto3 client of ``service`` at a local ``endpoint``: timeouts and retries bounded; the developer's
    AWS profile, config file and endpoint variables are not read."""
    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.session.Session(botocore_session=core).client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            connect_timeout=1,
            read_timeout=15,
            retries={"mode": "standard", "total_max_attempts": 2},
            s3={"addressing_style": "path"},
        ),
    )


class Stack:
    """Start with ``with Stack() as stack:`` (or ``start()``/``stop()``)."""

    def __init__(self, template_path: Path = ROOT / "template.yaml", say: Callable[[str], None] | None = None) -> None:
        self.template = load_template(template_path)
        self.say = say or (lambda message: None)
        self.resolver = Resolver(self.template)
        self.specs = {name: spec for name, spec in functions(self.template).items() if self.resolver.included(name)}
        self.supervisor: processes.Supervisor | None = None
        self.server: InvokeServer | None = None
        self.api: ApiServer | None = None
        self.runtime: Runtime | None = None
        self.endpoints: Endpoints | None = None
        self.pollers: list[MappingPoller] = []  # the stream event source mappings
        self.queue_pollers: list[QueuePoller] = []  # the SQS event sources
        self.queue_urls: dict[str, str] = {}  # logical id -> URL
        self.buckets: dict[str, str] = {}  # logical id -> bucket name
        self.user_pool_id = self.client_id = self.table_name = self.stream_arn = ""
        self._triggers: set[str] = set()  # functions whose processes start once the components are up
        self._later: set[str] = set()  # ... and those that start once the stack is provisioned
        self.timings: dict[str, float] = {}
        self._clients: dict[str, Any] = {}

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
        processes.install_npm_packages(self.say)
        self.supervisor = supervisor = processes.Supervisor()
        ports = {name: processes.free_port() for name in ("dynamodb", "cognito", "moto")}
        self.server = InvokeServer(cognito_port=ports["cognito"])
        self.endpoints = endpoints = Endpoints(
            dynamodb=f"http://127.0.0.1:{ports['dynamodb']}",
            cognito=self.server.url,
            cognito_issuer=f"http://127.0.0.1:{ports['cognito']}",
            moto=f"http://127.0.0.1:{ports['moto']}",
            lambda_=self.server.url,
        )
        # The function processes start once the components are up (booting them alongside, on two
        # cores, slows the components' start): the triggers' while the stack is provisioned, the
        # stream and API functions' once it is, while the first steps run.
        self._triggers = set(self.trigger_functions().values()) & set(self.specs)
        self._later = {
            *(source.function for source in stream_sources(self.template)),
            *(route.function for route in routes(self.template, self.resolver)),
        } & (set(self.specs) - self._triggers)
        self.runtime = Runtime(self.specs, endpoints.environment(), supervisor)
        home = sorted(processes.DYNAMODB_LOCAL.glob("*/DynamoDBLocal.jar"))[-1].parent
        java = ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *processes.JAVA_OPTIONS]
        java.append(f"-Djava.library.path={home}/DynamoDBLocal_lib")
        options = ["-inMemory", "-sharedDb", "-port", str(ports["dynamodb"]), "-disableTelemetry"]
        command = [*java, "-jar", str(home / "DynamoDBLocal.jar"), *options]
        # in memory, it has nothing to save: stopped with SIGKILL at once rather than SIGTERM's 0.4 s shutdown
        dynamodb = supervisor.start("dynamodb-local", command, processes.environment(), cwd=home, graceful=False)
        cognito_home = supervisor.workdir / "cognito"
        cognito = processes.start_cognito_local(supervisor, cognito_home, self._cognito_config(ports["cognito"]))
        moto_server = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports["moto"])]
        moto = supervisor.start("moto", moto_server, processes.environment())
        with ThreadPoolExecutor(3, "provision") as pool:
            # boto3's clients load their service models while the components boot
            clients = pool.submit(lambda: [self.client(name) for name in PROVISIONING_CLIENTS])
            # any HTTP answer (DynamoDB Local's is 400 without a signature) means it serves requests;
            # botocore's retries would add their backoff to every refused connection
            processes.wait_until(lambda: processes.http_ok(f"{endpoints.moto}/moto-api/"), moto)
            processes.wait_until(lambda: processes.http_ok(f"{endpoints.cognito_issuer}/health"), cognito)
            processes.wait_until(lambda: processes.http_ok(endpoints.dynamodb), dynamodb)
            self.timings["components"] = time.perf_counter() - began
            self.runtime.start(self._triggers)
            clients.result()
            self._provision(pool)
        self.timings["provisioned"] = time.perf_counter() - began
        self._start_functions()
        self.timings["ready"] = time.perf_counter() - began
        return self

    def stop(self) -> None:
        pollers: list[MappingPoller | QueuePoller] = [*self.pollers, *self.queue_pollers]
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(timeout=2)
        self.pollers, self.queue_pollers = [], []
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        self._clients = {}

    def client(self, service: str) -> Any:
        """A boto3 client for the local stack (``local_client``)."""
        if service not in self._clients:
            assert self.endpoints is not None
            endpoint = {
                "dynamodb": self.endpoints.dynamodb,
                "dynamodbstreams": self.endpoints.dynamodb,
                "cognito-idp": self.endpoints.cognito,
                "lambda": self.endpoints.lambda_,
            }.get(service, self.endpoints.moto)
            self._clients[service] = local_client(service, endpoint)
        return self._clients[service]

    # --- provisioning ----------------------------------------------------------------

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The template's resources of one type that exist in this stack, properties resolved."""
        return {
            name: self.resolver.resolve(resource.get("Properties") or {})
            for name, resource in self.template["Resources"].items()
            if resource.get("Type") == kind and self.resolver.included(name)
        }

    def _provision(self, pool: ThreadPoolExecutor) -> None:
        """The template's resources: moto's, the table and the user pool are independent of one another,
        so the three are created side by side."""
        refs, attributes = self.resolver.refs, self.resolver.attributes
        for name in self.specs:
            refs[name] = name
            attributes[(name, "Arn")] = function_arn(name)
        for done in [
            pool.submit(self._provision_moto),
            pool.submit(self._provision_table),
            pool.submit(self._provision_pool),
        ]:
            done.result()

    def _provision_moto(self) -> None:
        refs, attributes = self.resolver.refs, self.resolver.attributes
        for name, props in self.resources("AWS::S3::Bucket").items():
            refs[name] = self.buckets[name] = props.get("BucketName") or f"{STACK_NAME}-{name}".lower()[:63]
            attributes[(name, "Arn")] = f"arn:aws:s3:::{refs[name]}"
            self.client("s3").create_bucket(Bucket=refs[name])
        sqs = self.client("sqs")
        queues = self.resources("AWS::SQS::Queue")
        for name in sorted(queues, key=lambda name: "RedrivePolicy" in queues[name]):  # dead-letter queues first
            props = self.resources("AWS::SQS::Queue")[name]  # again: a RedrivePolicy names a queue created since
            if "RedrivePolicy" in props:
                props["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            queue = _kept(props, "VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
            queue = {key: str(value) for key, value in queue.items()}
            url = sqs.create_queue(QueueName=props.get("QueueName") or name, Attributes=queue)["QueueUrl"]
            refs[name] = self.queue_urls[name] = url
            attributes[(name, "Arn")] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        for name, props in self.resources("AWS::Events::EventBus").items():
            refs[name] = props.get("Name") or name
            attributes[(name, "Arn")] = self.client("events").create_event_bus(Name=refs[name])["EventBusArn"]
        events = self.client("events")
        for name, props in self.resources("AWS::Events::Rule").items():
            if props.get("ScheduleExpression"):
                continue  # schedules do not fire locally
            if isinstance(props.get("EventPattern"), dict):
                props["EventPattern"] = json.dumps(props["EventPattern"])
            refs[name] = props.setdefault("Name", name)
            rule = _kept(props, "Name", "EventBusName", "EventPattern", "State")
            attributes[(name, "Arn")] = events.put_rule(**rule)["RuleArn"]
            # moto delivers PutEvents to a rule's SQS targets
            targets = [
                _kept(t, "Id", "Arn", "Input", "InputPath") for t in props.get("Targets") or [] if ":sqs:" in t["Arn"]
            ]
            if targets:
                events.put_targets(Rule=rule["Name"], EventBusName=rule.get("EventBusName", "default"), Targets=targets)

    def _provision_table(self) -> None:
        refs, attributes = self.resolver.refs, self.resolver.attributes
        for name, props in self.resources("AWS::DynamoDB::Table").items():
            if "StreamSpecification" in props:
                props["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
            table = self.client("dynamodb").create_table(
                TableName=props.get("TableName") or name,
                **_kept(props, "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput"),
                **_kept(props, "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"),
            )["TableDescription"]
            refs[name] = table["TableName"]
            attributes[(name, "Arn")] = table["TableArn"]
            attributes[(name, "StreamArn")] = table.get("LatestStreamArn", "")
            if name == "ProfileTable":  # the example consumer has a table of its own
                self.table_name, self.stream_arn = table["TableName"], table.get("LatestStreamArn", "")

    def _provision_pool(self) -> None:
        refs, attributes = self.resolver.refs, self.resolver.attributes
        cognito = self.client("cognito-idp")
        for name, props in self.resources("AWS::Cognito::UserPool").items():
            kept = _kept(props, "UsernameAttributes", "AutoVerifiedAttributes", "Schema", "Policies")
            pool = cognito.create_user_pool(PoolName=props.get("UserPoolName") or name, **kept)["UserPool"]
            refs[name] = self.user_pool_id = pool["Id"]
            attributes[(name, "Arn")] = pool["Arn"]
        for name, props in self.resources("AWS::Cognito::UserPoolClient").items():
            kept = _kept(props, "UserPoolId", "ReadAttributes", "WriteAttributes")
            client = cognito.create_user_pool_client(ClientName=props.get("ClientName") or name, **kept)
            refs[name] = self.client_id = client["UserPoolClient"]["ClientId"]
        for name, props in self.resources("AWS::Cognito::UserPoolGroup").items():
            group = _kept(props, "UserPoolId", "GroupName", "Description", "Precedence")
            refs[name] = cognito.create_group(**group)["Group"]["GroupName"]

    # --- functions and their event sources ---------------------------------------------

    def trigger_functions(self) -> dict[str, str]:
        """The functions the user pool's LambdaConfig names, by trigger (PostConfirmation, PreTokenGeneration, ...)."""
        pools = self.resources_unresolved("AWS::Cognito::UserPool")
        config = (pools[0] if pools else {}).get("LambdaConfig") or {}
        named = {trigger: function_of(config.get(trigger)) for trigger in COGNITO_TRIGGERS}
        if "PreTokenGenerationConfig" in config:  # V2/V3 events; PreTokenGeneration alone is V1
            named["PreTokenGeneration"] = function_of(config["PreTokenGenerationConfig"].get("LambdaArn"))
        return {trigger: name for trigger, name in named.items() if name in self.specs}

    def resources_unresolved(self, kind: str) -> list[dict[str, Any]]:
        return [dict(r.get("Properties") or {}) for r in self.template["Resources"].values() if r.get("Type") == kind]

    def pool_behaviour(self) -> PoolBehaviour:
        pools = self.resources_unresolved("AWS::Cognito::UserPool")
        props = pools[0] if pools else {}
        version = ((props.get("LambdaConfig") or {}).get("PreTokenGenerationConfig") or {}).get("LambdaVersion", "V1_0")
        return PoolBehaviour(REGION, "email" in (props.get("AutoVerifiedAttributes") or []), str(version)[1])

    def _cognito_config(self, port: int) -> dict[str, Any]:
        assert self.server is not None
        return {
            "LambdaClient": {
                "endpoint": f"{self.server.url}/cognito-local",
                "region": REGION,
                "credentials": {"accessKeyId": "local", "secretAccessKey": "local"},
                "maxRetries": 0,
                "httpOptions": {"timeout": 10000, "connectTimeout": 1000},
            },
            "TriggerFunctions": self.trigger_functions(),
            "TokenConfig": {"IssuerDomain": f"http://127.0.0.1:{port}"},
            "ServerConfig": {"hostname": "127.0.0.1", "port": port},
        }

    def _start_functions(self) -> None:
        assert self.server is not None
        assert self.runtime is not None
        variables = {name: self.resolver.resolve(spec.environment) for name, spec in self.specs.items()}
        self.runtime.configure({name: {k: str(v) for k, v in found.items()} for name, found in variables.items()})
        self.runtime.start(self._later)
        self.server.pool, self.server.runtime = self.pool_behaviour(), self.runtime
        for source in stream_sources(self.template):
            props = self.resolver.resolve(source.properties)
            if self._runs(source.function, source.logical_id, props):
                spec = MappingSpec.from_template(source.function, source.event, props)
                poller = MappingPoller(
                    spec,
                    self.client("dynamodbstreams"),
                    self.client("s3"),
                    str(props.get("Stream") or self.stream_arn),
                    functools.partial(self._invoke_batch, "stream", source.function),
                )
                poller.start()
                self.pollers.append(poller)
        self._poll_queues()
        self._serve_api()

    def _runs(self, function: str, logical_id: str, props: dict[str, Any]) -> bool:
        """Whether an event source runs here: its function and resource exist, and it is enabled."""
        return (
            function in self.specs
            and self.resolver.included(logical_id)
            and props.get("Enabled", True) not in (False, "false")
        )

    def _poll_queues(self) -> None:
        """The template's SQS event sources, each polled for its function as Lambda's SQS poller does."""
        urls = {self.resolver.attributes[(name, "Arn")]: url for name, url in self.queue_urls.items()}
        for source in queue_sources(self.template):
            props = self.resolver.resolve(source.properties)
            if self._runs(source.function, source.logical_id, props):
                spec = QueueSpec.from_template(source.function, source.event, props)
                if spec.queue_arn not in urls:
                    raise TemplateError(f"{spec.name}: {spec.queue_arn} is not a queue of this stack")
                poller = QueuePoller(
                    spec,
                    self.client("sqs"),
                    urls[spec.queue_arn],
                    functools.partial(self._invoke_batch, "sqs", source.function),
                )
                poller.start()
                self.queue_pollers.append(poller)

    def _serve_api(self) -> None:
        """The template's HTTP API on loopback, its JWT authorizer trusting cognito-local (docs/local.md)."""
        assert self.endpoints is not None
        found = routes(self.template, self.resolver)
        if not found:
            return
        authorizer, cors = api_settings(self.template, self.resolver, found[0].api)
        local_issuer = f"{self.endpoints.cognito_issuer}/{self.user_pool_id}"
        if authorizer is not None and authorizer.issuer.endswith(f"/{self.user_pool_id}"):
            # the template names Cognito's issuer URL; cognito-local signs with its own
            authorizer = dataclasses.replace(authorizer, issuer=local_issuer)
        self.api = ApiServer(
            [route for route in found if route.function in self.specs],
            authorizer,
            cors,
            f"{local_issuer}/.well-known/jwks.json",
            self._invoke_api,
        )
        self.endpoints = dataclasses.replace(self.endpoints, api=self.api.url)

    def _invoke_api(self, name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
        assert self.runtime is not None
        invocation = self.runtime.invoke(name, event, source=f"api {event['routeKey']}")
        return invocation.function_error, invocation.result()

    def _invoke_batch(self, source: str, name: str, records: list[dict[str, Any]]) -> tuple[str | None, Any]:
        assert self.runtime is not None
        invocation = self.runtime.invoke(name, {"Records": records}, source=source)
        return invocation.function_error, invocation.result()

    def outputs(self) -> dict[str, str]:
        """The stack outputs a deployed stack would give for what runs here."""
        assert self.endpoints is not None
        found = {
            "UserPoolId": self.user_pool_id,
            "UserPoolClientId": self.client_id,
            "ProfileTableName": self.table_name,
            "ProfileApiUrl": self.endpoints.api,
        }
        return {key: value for key, value in found.items() if value}

    def ops_target(self) -> Any:
        """What ``python -m ops`` works on here (``ops.target.Target``)."""
        from ops.target import Target

        assert self.endpoints is not None
        outputs = self.outputs()
        return Target(self.user_pool_id, self.table_name, environment=self.endpoints.environment(), outputs=outputs)

    def write_state(self) -> None:
        """What ``invoke`` and ``python -m ops --local`` need to find the stack ``up`` keeps running."""
        assert self.endpoints is not None
        state = {
            "pid": os.getpid(),
            "endpoints": asdict(self.endpoints),
            "functions": sorted(self.specs),
            "environment": self.endpoints.environment(),
            "outputs": self.outputs(),
        }
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(state, indent=2))

    @staticmethod
    def clear_state() -> None:
        STATE_FILE.unlink(missing_ok=True)


def _kept(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The ``keys`` of ``props`` it has: what a create call takes of a resource's properties."""
    return {key: props[key] for key in keys if key in props}
