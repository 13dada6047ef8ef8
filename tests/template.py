"""template.yaml as data, so tests build resources from the one definition the stack uses."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt, ...) as {"Fn::X": value}."""


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {key: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def template() -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


def resource(logical_id: str) -> dict[str, Any]:
    """One resource's definition."""
    return template()["Resources"][logical_id]


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of a type, by logical id."""
    return {name: body for name, body in template()["Resources"].items() if body["Type"] == kind}


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


def function_environment(logical_id: str) -> dict[str, Any]:
    """A function's environment variables: Globals merged with its own (values unresolved)."""
    globals_env = template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_env, **own}
