"""The execution roles as CloudFormation creates them: template.yaml after the SAM transform.

SAM adds permissions of its own (managed policies for event sources and tracing), so the raw
``Policies`` of a function do not tell what its role may do; these tests read the roles the
transform produces.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.support import template, transformed, transformed_of_type

# The Lambda docs' permissions for a DynamoDB event source mapping (the execution role reads the stream):
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-example-lamda-process-dynamodb-streams.html
STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
STREAM = {"Fn::GetAtt": ["ProfileTable", "StreamArn"]}
DELETIONS = {"Fn::GetAtt": ["AccountDeletionQueue", "Arn"]}
# What Lambda's poller needs of an SQS queue:
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html
QUEUE_READ = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
QUEUE = {"Fn::GetAtt": ["ExampleConsumerQueue", "Arn"]}


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


def roles(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's execution role, by function logical id."""
    found = {}
    for name, function in transformed_of_type(document, "AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        found[name] = document["Resources"][role]
    return found


def mappings(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each event source mapping's properties, by logical id."""
    return {
        name: body["Properties"]
        for name, body in transformed_of_type(document, "AWS::Lambda::EventSourceMapping").items()
    }


def granting(role: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The role's Allow statements with an action of a service (``"dynamodb:"``...)."""
    return [
        statement
        for statement in role_statements(role)
        if statement["Effect"] == "Allow"
        and any(str(action).startswith(prefix) for action in as_list(statement["Action"]))
    ]


def test_no_role_gets_the_account_wide_dynamodb_stream_policy() -> None:
    # Given the roles SAM generates, When their managed policies are read,
    # Then none is AWSLambdaDynamoDBExecutionRole (stream reads on every resource in the account)
    for function, role in roles(transformed()).items():
        arns = [str(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])]
        assert not [arn for arn in arns if "AWSLambdaDynamoDBExecutionRole" in arn], function


@pytest.mark.parametrize("service", ["dynamodb:", "xray:"])
def test_no_statement_grants_dynamodb_or_xray_on_every_resource(service: str) -> None:
    # Given every inline statement of every role, When it grants a DynamoDB or X-Ray action,
    # Then it names its resources: never "*"
    for function, role in roles(transformed()).items():
        for statement in granting(role, service):
            assert "*" not in as_list(statement["Resource"]), (function, statement)


def stream_mappings(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The event source mappings on the profile table's stream (the example consumer's reads its queue)."""
    return {name: mapping for name, mapping in mappings(document).items() if mapping["EventSourceArn"] == STREAM}


def test_every_mapping_reads_the_table_stream_the_example_consumers_queue_or_the_account_deletions() -> None:
    sources = {str(mapping["EventSourceArn"]) for mapping in mappings(transformed()).values()}
    assert sources == {str(STREAM), str(QUEUE), str(DELETIONS)}


def test_each_stream_mapping_reads_its_stream_and_nothing_else() -> None:
    # Given each event source mapping on the table's stream and its function's role,
    # When the role's stream read statements are read,
    # Then they grant the four read actions Lambda needs, on that stream only
    document = transformed()
    by_function = roles(document)
    assert stream_mappings(document), "no event source mapping in the transformed template"
    for name, mapping in stream_mappings(document).items():
        role = by_function[mapping["FunctionName"]["Ref"]]
        statements = [s for s in granting(role, "dynamodb:") if STREAM_READ & set(as_list(s["Action"]))]
        granted = {action for statement in statements for action in as_list(statement["Action"])}
        assert granted >= STREAM_READ, name
        for statement in statements:
            assert as_list(statement["Resource"]) == [STREAM], (name, statement)


def test_functions_without_a_mapping_cannot_read_the_stream() -> None:
    # Given the functions no event source mapping invokes (the Cognito triggers),
    # When their roles are read, Then they grant no stream action
    document = transformed()
    mapped = {mapping["FunctionName"]["Ref"] for mapping in stream_mappings(document).values()}
    for function, role in roles(document).items():
        if function in mapped:
            continue
        actions = {action for statement in granting(role, "dynamodb:") for action in as_list(statement["Action"])}
        assert not actions & STREAM_READ, function


def test_the_user_deleted_function_reads_the_account_deletion_queue_only_and_deletes_profiles_only() -> None:
    # Given the transformed template's mappings and the user-deleted function's role
    document = transformed()
    own = [m for m in mappings(document).values() if m["FunctionName"]["Ref"] == "UserDeletedFunction"]
    role = roles(document)["UserDeletedFunction"]

    # Then its one mapping reads the account deletion queue, reporting partial batch failures
    assert [m["EventSourceArn"] for m in own] == [DELETIONS]
    assert own[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And its SQS rights name that queue alone, its DynamoDB rights are DeleteItem on the table
    for statement in granting(role, "sqs:"):
        assert as_list(statement["Resource"]) == [DELETIONS], statement
    dynamodb = [(as_list(s["Action"]), as_list(s["Resource"])) for s in granting(role, "dynamodb:")]
    assert dynamodb == [(["dynamodb:DeleteItem"], [{"Fn::GetAtt": ["ProfileTable", "Arn"]}])]


def xray_policies(role: dict[str, Any]) -> list[str]:
    return [str(arn) for arn in role["Properties"].get("ManagedPolicyArns", []) if "xray" in str(arn).lower()]


def test_tracing_is_off_unless_the_parameter_turns_it_on() -> None:
    # Given the template's Tracing parameter, When it is read, Then tracing defaults to off
    parameter = template()["Parameters"]["Tracing"]
    assert parameter["Default"] == "Disabled"
    assert sorted(parameter["AllowedValues"]) == ["Active", "Disabled", "PassThrough"]
    # And by default no function traces and no role may write to X-Ray
    document = transformed()
    for name, function in transformed_of_type(document, "AWS::Lambda::Function").items():
        assert "TracingConfig" not in function["Properties"], name
    for logical_id, role in roles(document).items():
        assert not xray_policies(role), logical_id
        assert not granting(role, "xray:"), logical_id


@pytest.mark.parametrize("mode", ["Active", "PassThrough"])
def test_tracing_parameter_gives_every_function_its_mode_and_xray_rights(mode: str) -> None:
    # Given the Tracing parameter set to a mode, When the template is transformed,
    # Then every function traces in that mode and its role gets SAM's X-Ray write policy
    document = transformed(Tracing=mode)
    for name, function in transformed_of_type(document, "AWS::Lambda::Function").items():
        assert function["Properties"]["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}, name
    for logical_id, role in roles(document).items():
        assert xray_policies(role), logical_id


BUCKET = {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}
# What Lambda needs to write a discarded batch to an S3 on-failure destination (execution role):
# https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html (the same list for stream sources)
S3_DESTINATION = {"s3:PutObject": [{"Fn::Sub": "${FailedBatchBucket.Arn}/*"}], "s3:ListBucket": [BUCKET]}


def test_s3_rights_are_the_on_failure_destinations_and_only_on_the_failed_batch_bucket() -> None:
    # Given every role, When its S3 statements are read,
    # Then a function whose mapping sends failed batches to the bucket may put objects in it and
    # list it, and no role has any other S3 action or any other S3 resource
    document = transformed()
    with_destination = {
        mapping["FunctionName"]["Ref"]
        for mapping in mappings(document).values()
        if mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") == BUCKET
    }
    assert with_destination == {"PublishEventsFunction", "SyncCognitoFunction"}
    for function, role in roles(document).items():
        granted: dict[str, list[Any]] = {}
        for statement in granting(role, "s3:"):
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
        assert granted == (S3_DESTINATION if function in with_destination else {}), function


@pytest.mark.parametrize(
    ("function", "actions"),
    [
        ("PostConfirmationFunction", {"dynamodb:PutItem"}),
        ("PreTokenGenerationFunction", {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}),
        # compares (BatchGetItem, GetItem), finds orphans (Scan), creates, refreshes and deletes
        (
            "ReconcileFunction",
            {
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            },
        ),
    ],
)
def test_each_trigger_may_make_exactly_the_table_calls_its_code_makes(function: str, actions: set[str]) -> None:
    # Given the trigger's role, When its DynamoDB rights are read,
    # Then they are the calls it makes (the pre-token trigger reads, creates, and refreshes IdP fields)
    statements = granting(roles(transformed())[function], "dynamodb:")
    granted = {str(action) for statement in statements for action in as_list(statement["Action"])}
    assert granted == actions
    assert all(statement["Resource"] == {"Fn::GetAtt": ["ProfileTable", "Arn"]} for statement in statements)


def test_the_example_consumer_polls_its_queue_only_and_writes_its_own_table_only() -> None:
    # Given the example consumer's role as SAM's transform produces it
    role = roles(transformed())["ExampleConsumerFunction"]

    # Then it has no managed SQS policy (AWSLambdaSQSQueueExecutionRole reads every queue),
    # the poller's three actions on its queue, and reads and writes on its own table only
    arns = [str(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])]
    assert not [arn for arn in arns if "SQS" in arn]
    assert [(set(as_list(s["Action"])), as_list(s["Resource"])) for s in granting(role, "sqs:")] == [
        (QUEUE_READ, [QUEUE])
    ]
    assert [(set(as_list(s["Action"])), as_list(s["Resource"])) for s in granting(role, "dynamodb:")] == [
        ({"dynamodb:GetItem", "dynamodb:PutItem"}, [{"Fn::GetAtt": ["ExampleConsumerTable", "Arn"]}])
    ]
