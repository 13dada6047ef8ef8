"""The `sam build` artifact runs on its own: each function's handler imports and runs from
its build folder with only boto3 beside it, as the Lambda runtime provides."""

from __future__ import annotations

import subprocess

import pytest

from local.package import PROJECT_PACKAGES, project_files
from local.support import EVENTS, ROOT, create_table_kwargs, resource, resources_of_type
from tests.artifacts.conftest import BUILD, LAMBDA_PYTHON, client, run_built

TABLE = "profiles-artifact-test"


@pytest.fixture(scope="module")
def table_endpoint(endpoint: str) -> str:
    client("dynamodb", endpoint).create_table(**create_table_kwargs("ProfileTable", TABLE))
    return endpoint


def test_lambda_python_has_nothing_but_boto3() -> None:
    # Given the interpreter standing in for the Lambda runtime, Then pydantic and powertools
    # are not importable from it: they must come from the artifact
    probe = subprocess.run(  # noqa: S603
        [str(LAMBDA_PYTHON), "-I", "-c", "import aws_lambda_powertools"], capture_output=True, check=False
    )
    assert probe.returncode != 0


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::Serverless::Function")))
def test_built_function_has_its_handler_module(logical_id: str) -> None:
    module = resource(logical_id)["Properties"]["Handler"].rpartition(".")[0]
    assert (BUILD / logical_id / (module.replace(".", "/") + ".py")).is_file()


def test_built_post_confirmation_creates_the_profile(table_endpoint: str) -> None:
    # Given the built post-confirmation function and a sign-up event
    # When it runs from its build folder
    result = run_built(
        "PostConfirmationFunction",
        EVENTS / "cognito" / "post_confirmation_email_sign_up.json",
        table_endpoint,
        PROFILE_TABLE_NAME=TABLE,
    )

    # Then the profile exists in the table
    sub = result["request"]["userAttributes"]["sub"]
    assert client("dynamodb", table_endpoint).get_item(TableName=TABLE, Key={"user_id": {"S": sub}}).get("Item")


def test_built_pre_token_function_adds_claims(table_endpoint: str) -> None:
    # Given the built pre-token function and a V2 event
    # When it runs from its build folder
    result = run_built(
        "PreTokenGenerationFunction",
        EVENTS / "cognito" / "pre_token_v2_authentication.json",
        table_endpoint,
        PROFILE_TABLE_NAME=TABLE,
    )

    # Then the response carries claims for both tokens
    details = result["response"]["claimsAndScopeOverrideDetails"]
    assert "idTokenGeneration" in details
    assert "accessTokenGeneration" in details


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::Serverless::Function")))
def test_each_artifact_holds_its_own_code_and_nothing_of_the_repository_else(logical_id: str) -> None:
    # Given a function's built artifact
    folder = BUILD / logical_id
    module = resource(logical_id)["Properties"]["Handler"].rpartition(".")[0]

    # When its project files are listed
    shipped = {
        path.relative_to(folder)
        for path in folder.rglob("*.py")
        if path.relative_to(folder).parts[0] in PROJECT_PACKAGES
    }

    # Then they are exactly the handler's module and what it imports, with no tooling (the
    # operator's ops/ included), tests, docs, events or pydantic beside them
    assert shipped == {path.relative_to(ROOT) for path in project_files(module)}
    top = {path.name for path in folder.iterdir()}
    assert not top & {
        "ops",
        "tests",
        "local",
        "bench",
        "docs",
        "events",
        "scripts",
        "Makefile",
        "pydantic",
        "template.yaml",
    }


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::Serverless::Function")))
def test_each_artifact_is_under_9_mb_unzipped(logical_id: str) -> None:
    size = sum(path.stat().st_size for path in (BUILD / logical_id).rglob("*") if path.is_file())
    assert size < 9 * 1024 * 1024, f"{logical_id}: {size / 1024 / 1024:.1f} MB"
