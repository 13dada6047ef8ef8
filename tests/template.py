"""template.yaml as test data: resources are built under moto from the definitions in the template.

CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``...) become their long forms
(``{"Ref": ...}``, ``{"Fn::GetAtt": ...}``), so any resource's Properties can be read.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that tolerates CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: _CloudFormationLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def template() -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    with TEMPLATE.open() as stream:
        return yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def resource(name: str) -> dict[str, Any]:
    """One resource of the template (Type, Properties...)."""
    return template()["Resources"][name]


def properties(name: str) -> dict[str, Any]:
    """One resource's Properties."""
    return resource(name).get("Properties", {})


def create_profile_table(client: Any, table_name: str) -> str:
    """Create the profile table as template.yaml defines it; returns its stream ARN."""
    table = properties("ProfileTable")
    stream = table.get("StreamSpecification")
    response = client.create_table(
        TableName=table_name,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode=table.get("BillingMode", "PAY_PER_REQUEST"),
        **({"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}),
    )
    return str(response["TableDescription"].get("LatestStreamArn", ""))
