"""template.yaml as the one description of the application, with intrinsics resolved locally.

``load_template`` reads the CloudFormation/SAM YAML (short-form tags included); ``Resolver``
evaluates the intrinsics the template uses (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``,
``Fn::Not``, ``Fn::Equals``, ``Condition``) against the names of the resources the local stack
created. Resources the stack does not run (log groups, alarms, permissions) resolve to
placeholder names, never to errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "profile-sync-local"
NO_VALUE = object()  # AWS::NoValue: the key or list item it stands in is dropped


class TemplateError(ValueError):
    """The template uses something the local stack cannot evaluate."""


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """``!Ref x`` -> ``{"Ref": "x"}``, ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!X`` -> ``Fn::X``."""
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _short_form)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short-form intrinsics turned into their long form."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass with CloudFormation tags
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


@dataclass
class Resolver:
    """Evaluates intrinsics: ``refs`` maps a logical id to what ``Ref`` returns, ``attributes``
    maps ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns; parameters take their defaults
    unless given in ``parameters``."""

    template: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in (self.template.get("Parameters") or {}).items():
            self.parameters.setdefault(name, str(spec.get("Default", "")))
        self.refs.update(self.parameters)
        self.refs.update(
            {
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::StackName": STACK_NAME,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def included(self, logical_id: str) -> bool:
        """Whether the resource exists in this stack (its Condition, if any, holds)."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def ref(self, name: str) -> str:
        if name in self.refs:
            return self.refs[name]
        if name in self.template["Resources"]:
            return name  # a resource the local stack does not run: its logical id
        raise TemplateError(f"Ref to unknown name {name}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        if logical_id not in self.template["Resources"]:
            raise TemplateError(f"GetAtt of unknown resource {logical_id}")
        if attribute == "Arn":
            return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}"
        return f"{logical_id}.{attribute}"

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic evaluated; ``AWS::NoValue`` items removed."""
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument)
        resolved = {key: self.resolve(inner) for key, inner in value.items()}
        return {key: inner for key, inner in resolved.items() if inner is not NO_VALUE}

    def _function(self, key: str, argument: Any) -> Any:
        match key:
            case "Condition":
                return self.condition(argument)
            case "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(argument)
            case "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            case "Fn::Not":
                return not self.resolve(argument[0])
            case "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
        raise TemplateError(f"{key} is not supported by the local stack")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        given = {name: self.resolve(inner) for name, inner in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in given:
                return str(given[name])
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


@dataclass(frozen=True)
class FunctionSpec:
    """A function of the template, as the local Lambda runtime needs it."""

    logical_id: str
    handler: str  # module.attribute, importable from code_paths
    code_paths: tuple[Path, ...]  # what Lambda puts on sys.path: CodeUri (ContextPath for a makefile build)
    timeout: float
    memory_mb: int
    environment: dict[str, Any]  # unresolved: Refs are resolved once the stack exists
    log_format: str


def functions(template: dict[str, Any], root: Path = ROOT) -> dict[str, FunctionSpec]:
    """Every ``AWS::Serverless::Function``, with ``Globals.Function`` merged in as SAM does."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    found = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        props = {**defaults, **(resource.get("Properties") or {})}
        variables = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        logging = {**(defaults.get("LoggingConfig") or {}), **(props.get("LoggingConfig") or {})}
        # A makefile build runs in Metadata.ContextPath: the handler's dotted path starts there.
        code = (resource.get("Metadata") or {}).get("ContextPath") or props.get("CodeUri", ".")
        found[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=str(props.get("Handler", "")),
            code_paths=(root / str(code),),
            timeout=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment=variables,
            log_format=str(logging.get("LogFormat", "Text")),
        )
    return found


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event source of the template: an ``AWS::Lambda::EventSourceMapping``
    resource, or a function's SAM event of ``Type: DynamoDB`` (properties unresolved)."""

    function: str  # the function's logical id
    event: str  # the SAM event's name, or the mapping's logical id
    logical_id: str  # the resource whose Condition decides whether it exists
    properties: dict[str, Any]  # SAM's names: Stream for the stream ARN, the rest as the mapping's


def stream_sources(template: dict[str, Any]) -> list[StreamSource]:
    """Every DynamoDB stream event source mapping the template declares, in either form."""
    found = []
    for logical_id, resource in template["Resources"].items():
        props = dict(resource.get("Properties") or {})
        if resource.get("Type") == "AWS::Lambda::EventSourceMapping":
            function = function_of(props.get("FunctionName"))
            source = props.pop("EventSourceArn", None)
            if function and _is_stream(template, source):
                found.append(StreamSource(function, logical_id, logical_id, {"Stream": source, **props}))
        elif resource.get("Type") == "AWS::Serverless::Function":
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") == "DynamoDB":
                    found.append(StreamSource(logical_id, event_name, logical_id, dict(event.get("Properties") or {})))
    return found


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source of the template: a function's SAM event of ``Type: SQS`` (properties unresolved)."""

    function: str  # the function's logical id
    event: str  # the SAM event's name
    logical_id: str  # the resource whose Condition decides whether it exists: the function
    properties: dict[str, Any]  # SAM's names: Queue for the queue ARN, BatchSize, FunctionResponseTypes, ...


def queue_sources(template: dict[str, Any]) -> list[QueueSource]:
    """Every SQS event source the template declares as a SAM event. An ``AWS::Lambda::EventSourceMapping``
    on a queue (the example consumer's) is not one of them: the demo and the tests read that queue
    themselves, as their inbox (docs/local.md)."""
    return [
        QueueSource(logical_id, event_name, logical_id, dict(event.get("Properties") or {}))
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
        for event_name, event in ((resource.get("Properties") or {}).get("Events") or {}).items()
        if event.get("Type") == "SQS"
    ]


def _is_stream(template: dict[str, Any], arn: Any) -> bool:
    """Whether an event source is a DynamoDB table's stream (``!GetAtt Table.StreamArn`` or a literal ARN)."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        target = arn["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else str(target).split(".", 1)
        kind = (template["Resources"].get(logical_id) or {}).get("Type")
        return bool(kind == "AWS::DynamoDB::Table" and attribute == "StreamArn")
    return ":dynamodb:" in str(arn) and "/stream/" in str(arn)


def function_of(value: Any) -> str | None:
    """The logical id named by ``!GetAtt X.Arn`` or ``!Ref X``."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def resources_of_type(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    """The template's resources of the given types, by logical id."""
    return {name: spec for name, spec in template["Resources"].items() if spec.get("Type") in types}
