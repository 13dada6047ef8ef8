"""template.yaml as data, so tests build resources from the one definition the stack uses.

Parsed by the local runner's loader (CloudFormation short-form tags as {"Fn::X": ...}).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


@cache
def template() -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    return load_template(TEMPLATE)


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
