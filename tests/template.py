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


# --- template.yaml after the SAM transform ------------------------------------------------

# samtranslator ships with aws-sam-cli in .cache/tools. It cannot live in .venv: aws-sam-cli
# 1.170.0 pins aws-sam-translator==1.115.0, which requires pydantic~=2.13.3, and the functions
# pin pydantic==2.14.4 (pip reports the conflict). So the transform runs in the tools'
# interpreter, offline: local CodeUris become placeholder S3 URIs (as `sam validate` does), the
# managed-policy map is empty (no IAM call) and the Region is us-east-1.
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
    import json
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


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of an AWS::IAM::Role's inline policies."""
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    """An IAM Action or Resource element as a list (it may be one value)."""
    return list(value) if isinstance(value, list) else [value]


def stream_mappings() -> dict[str, dict[str, Any]]:
    """The DynamoDB stream event source mappings of template.yaml, by logical id, in SAM's terms
    (``Stream`` for the stream ARN): ``AWS::Lambda::EventSourceMapping`` resources and any SAM
    ``Type: DynamoDB`` event (as "<function>.<event>"). ``Function`` names the function."""
    from local.template import stream_sources

    return {
        (source.logical_id if source.event == source.logical_id else f"{source.function}.{source.event}"): {
            "Function": source.function,
            **source.properties,
        }
        for source in stream_sources(template())
    }
