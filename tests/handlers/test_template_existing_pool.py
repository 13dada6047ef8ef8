"""ExistingUserPoolId: the stack adopts a user pool instead of creating one.

Read on the template as CloudFormation receives it (after the SAM transform), with its
conditions evaluated by the local Resolver for each mode.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.support import template, transformed
from local.template import Resolver

EXISTING = "eu-west-1_AbC123xyz"
EXISTING_ARN = f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{EXISTING}"
# The stack's own pool, by name: a Ref resolves to "UserPool", a GetAtt to "arn:...:UserPool".
OWN_POOL = re.compile(r"(?<![A-Za-z])UserPool(?![A-Za-z])")
# Every identity provider and the domain too, so that every resource naming the pool exists.
EVERYTHING = {"DomainPrefix": "profiles-example", "GoogleClientId": "google-id", "AppleServicesId": "apple-id"}


def stack(**parameters: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resources that exist, outputs), resolved for these parameters."""
    document = transformed(**parameters)
    resolver = Resolver(document, parameters=dict(parameters))
    resources = {
        name: resolver.resolve({key: value for key, value in body.items() if key != "Condition"})
        for name, body in document["Resources"].items()
        if resolver.included(name)
    }
    outputs = {name: output["Value"] for name, output in resolver.resolve(document["Outputs"]).items()}
    return resources, outputs


def cognito_resources(resources: dict[str, Any]) -> dict[str, Any]:
    return {name: body["Properties"] for name, body in resources.items() if body["Type"].startswith("AWS::Cognito::")}


def test_by_default_the_stack_creates_the_pool_and_everything_names_it() -> None:
    # Given the default parameters, When the stack is resolved
    resources, outputs = stack(**EVERYTHING)
    # Then the pool exists and the client, group, domain and providers are created in it
    assert resources["UserPool"]["Type"] == "AWS::Cognito::UserPool"
    in_pool = {name for name, props in cognito_resources(resources).items() if props.get("UserPoolId") == "UserPool"}
    assert in_pool == {
        "UserPoolClient",
        "UserPoolDomain",
        "ProfileApiAdminGroup",
        "GoogleIdentityProvider",
        "AppleIdentityProvider",
    }
    assert outputs["UserPoolId"] == "UserPool"
    assert "ExistingUserPoolId" not in json.dumps(resources)


def test_an_existing_pool_id_creates_no_pool_and_nothing_refers_to_one() -> None:
    # Given an existing pool's id (and every optional pool resource), When the stack is resolved
    resources, outputs = stack(ExistingUserPoolId=EXISTING, **EVERYTHING)
    # Then no pool is created, and no resource or output refers to the pool the stack would have created
    assert not [name for name, body in resources.items() if body["Type"] == "AWS::Cognito::UserPool"]
    referring = [name for name, body in resources.items() if OWN_POOL.search(json.dumps(body))]
    assert referring == []
    assert not OWN_POOL.search(json.dumps(outputs))
    assert outputs["UserPoolId"] == EXISTING
    assert outputs["UserPoolArn"] == EXISTING_ARN


def test_an_existing_pool_gets_the_client_group_domain_and_providers_the_stack_creates() -> None:
    resources, _ = stack(ExistingUserPoolId=EXISTING, **EVERYTHING)
    in_pool = {name for name, props in cognito_resources(resources).items() if props.get("UserPoolId") == EXISTING}
    assert in_pool == {
        "UserPoolClient",
        "UserPoolDomain",
        "ProfileApiAdminGroup",
        "GoogleIdentityProvider",
        "AppleIdentityProvider",
    }


def test_functions_roles_and_trigger_permissions_name_the_existing_pool() -> None:
    # Given an existing pool, When the stack is resolved
    resources, _ = stack(ExistingUserPoolId=EXISTING, **EVERYTHING)
    # Then the functions that call Cognito get its id, their roles its ARN, and Cognito may invoke the triggers from it
    for function in ("SyncCognitoFunction", "ProfileApiFunction"):
        assert resources[function]["Properties"]["Environment"]["Variables"]["USER_POOL_ID"] == EXISTING
    cognito_grants = [
        statement["Resource"]
        for role in ("SyncCognitoFunctionRole", "ProfileApiFunctionRole")
        for policy in resources[role]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if "cognito-idp:" in json.dumps(statement["Action"])
    ]
    assert cognito_grants == [EXISTING_ARN, EXISTING_ARN]
    for permission in ("PostConfirmationPermission", "PreTokenGenerationPermission"):
        props = resources[permission]["Properties"]
        assert (props["Principal"], props["SourceArn"]) == ("cognito-idp.amazonaws.com", EXISTING_ARN)


def test_the_api_accepts_tokens_of_the_existing_pool_for_the_stacks_client() -> None:
    resources, _ = stack(ExistingUserPoolId=EXISTING, **EVERYTHING)
    schemes = resources["ProfileApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    jwt = schemes["CognitoAccessToken"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"]
    assert jwt == {
        "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{EXISTING}",
        "audience": ["UserPoolClient"],
    }


def test_the_client_of_an_existing_pool_reads_no_custom_attribute_it_may_lack() -> None:
    # Given both modes, When the app client's readable attributes are resolved
    created, _ = stack(**EVERYTHING)
    adopted, _ = stack(ExistingUserPoolId=EXISTING, **EVERYTHING)
    read_created = set(created["UserPoolClient"]["Properties"]["ReadAttributes"])
    read_adopted = set(adopted["UserPoolClient"]["Properties"]["ReadAttributes"])
    # Then an adopted pool's client reads the standard attributes only (custom ones are added after deploy)
    assert read_created - read_adopted == {"custom:plan", "custom:tenant_id"}
    assert not [name for name in read_adopted if name.startswith("custom:")]
    assert (
        adopted["UserPoolClient"]["Properties"]["WriteAttributes"]
        == created["UserPoolClient"]["Properties"]["WriteAttributes"]
    )


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("us-east-1_AbC123xyz", True),
        ("eu-central-1_a1", True),
        ("us-east-1", False),
        ("us-east-1_", False),
        ("us east-1_abc", False),
        ("us-east-1_abc/def", False),
        ("arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc", False),
        ("u" * 50 + "_abcde", False),  # 56 characters: above the API's 55
    ],
)
def test_the_parameter_takes_a_pool_id_or_nothing(value: str, accepted: bool) -> None:
    spec = template()["Parameters"]["ExistingUserPoolId"]
    fits = re.fullmatch(spec["AllowedPattern"], value) is not None and len(value) <= int(spec["MaxLength"])
    assert fits is accepted
