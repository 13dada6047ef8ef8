"""template.yaml agrees with the code: handlers exist, and the field map rules the pool."""

from __future__ import annotations

from typing import Any

import pytest

from local.support import handler_for, resolved, resource, resources_of_type, template
from shared import fields

FUNCTIONS = sorted(resources_of_type("AWS::Serverless::Function"))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_handler_resolves_to_a_callable(logical_id: str) -> None:
    # Given a function declared in the template, When its handler path is imported,
    # Then it names a callable
    assert callable(handler_for(logical_id))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_logs_to_its_own_group_with_retention(logical_id: str) -> None:
    # Given a function, When its logging config is read, Then it names a log group with retention
    group = resource(logical_id)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert resource(group)["Properties"]["RetentionInDays"]


def test_app_client_writes_exactly_what_the_field_map_allows() -> None:
    # Given the app client, When its writable attributes are compared with the map,
    # Then they are equal: no admin-owned or authorisation attribute is writable
    written = set(resource("UserPoolClient")["Properties"]["WriteAttributes"])
    assert written == set(fields.app_client_write_attributes())
    assert "email_verified" not in written
    assert not [name for name in written if name.startswith("custom:")]


def test_app_client_reads_every_mapped_attribute() -> None:
    readable = set(resolved(resource("UserPoolClient")["Properties"]["ReadAttributes"]))
    mapped = {spec.cognito_attribute for spec in fields.FIELDS if spec.cognito_attribute}
    assert mapped <= readable


def test_pool_schema_declares_the_maps_custom_attributes() -> None:
    schema = resource("UserPool")["Properties"]["Schema"]
    declared = {f"custom:{entry['Name']}" for entry in schema if entry["Name"] not in ("email",)}
    assert declared == set(fields.custom_cognito_attributes())
    for entry in schema:
        spec = next((s for s in fields.FIELDS if s.cognito_attribute == f"custom:{entry['Name']}"), None)
        if spec is not None:
            assert int(entry["StringAttributeConstraints"]["MaxLength"]) == spec.max_length


def _permission_for(function: str) -> dict[str, Any]:
    permissions = resources_of_type("AWS::Lambda::Permission").values()
    return next(p for p in permissions if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]})


def test_pre_token_trigger_gets_v2_events_and_its_own_permission() -> None:
    config = resource("UserPool")["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert config == {"LambdaArn": {"Fn::GetAtt": ["PreTokenGenerationFunction", "Arn"]}, "LambdaVersion": "V2_0"}
    permission = _permission_for("PreTokenGenerationFunction")["Properties"]
    assert permission["Principal"] == "cognito-idp.amazonaws.com"
    assert resolved(permission["SourceArn"]) == resolved({"Fn::GetAtt": ["UserPool", "Arn"]})


def test_post_confirmation_trigger_is_wired_with_a_permission() -> None:
    config = resource("UserPool")["Properties"]["LambdaConfig"]
    assert config["PostConfirmation"] == {"Fn::GetAtt": ["PostConfirmationFunction", "Arn"]}
    assert _permission_for("PostConfirmationFunction")["Properties"]["Principal"] == "cognito-idp.amazonaws.com"


def test_profile_table_is_durable_and_streams_both_images() -> None:
    table = resource("ProfileTable")
    properties = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert properties["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["BillingMode"] == "PAY_PER_REQUEST"


def test_functions_run_python_3_13_on_arm64() -> None:
    function_globals = template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
