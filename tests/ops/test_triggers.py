"""attach-triggers and detach-triggers on an adopted user pool: under moto (in process), whose
UpdateUserPool, like Cognito's, resets what the request leaves out."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from local.support import REGION, CallRecorder
from ops import triggers
from ops.__main__ import main
from ops.triggers import Functions
from shared import fields

ACCOUNT = "123456789012"
OURS = Functions(
    post_confirmation=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:profile-sync-PostConfirmationFunction-AbC",
    pre_token=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:profile-sync-PreTokenGenerationFunction-DeF",
)
THEIRS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:their-function"
THEIR_TRIGGERS = {
    "PreSignUp": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:their-pre-sign-up",
    "CustomMessage": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:their-messages",
}
# A pool far from Cognito's defaults in every setting moto keeps.
SETTINGS: dict[str, Any] = {
    "Policies": {
        "PasswordPolicy": {
            "MinimumLength": 12,
            "RequireUppercase": False,
            "RequireLowercase": True,
            "RequireNumbers": True,
            "RequireSymbols": False,
            "TemporaryPasswordValidityDays": 3,
        }
    },
    "DeletionProtection": "ACTIVE",
    "LambdaConfig": THEIR_TRIGGERS,
    "AutoVerifiedAttributes": ["email"],
    "VerificationMessageTemplate": {
        "DefaultEmailOption": "CONFIRM_WITH_LINK",
        "EmailMessageByLink": "Click {##here##}",
        "EmailSubjectByLink": "Welcome",
    },
    "SmsAuthenticationMessage": "Your code {####}",
    "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
    "DeviceConfiguration": {"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": True},
    "EmailConfiguration": {
        "EmailSendingAccount": "DEVELOPER",
        "SourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.com",
        "From": "no-reply@example.com",
    },
    "UserPoolTags": {"team": "identity"},
    "AdminCreateUserConfig": {
        "AllowAdminCreateUserOnly": True,
        "InviteMessageTemplate": {"EmailSubject": "Hi", "EmailMessage": "{username} {####}"},
    },
    "UserPoolAddOns": {"AdvancedSecurityMode": "AUDIT"},
    "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
    "UserPoolTier": "PLUS",
}
# Changed by every write, or (moto only) lost by UpdateUserPool although Cognito keeps them:
# UpdateUserPool cannot set them, so nothing the command sends can keep or lose them.
NOT_COMPARED = {"LastModifiedDate", "LambdaConfig", "UsernameAttributes"}


class Aws(NamedTuple):
    recorded: Any  # the command's boto3 session
    calls: CallRecorder  # its calls
    unrecorded: Any  # the test's own session


class Pool:
    """A moto user pool and the Cognito client the command uses, its calls recorded."""

    def __init__(self, aws: Aws, **settings: Any) -> None:
        self.client = aws.recorded.client("cognito-idp")
        self.reader = aws.unrecorded.client("cognito-idp")  # the test's own reads are not the command's calls
        self.calls = aws.calls
        created = self.reader.create_user_pool(
            PoolName="legacy-users",
            UsernameAttributes=["email"],
            Schema=[{"Name": "department", "AttributeDataType": "String", "Mutable": True}],
            **settings,
        )
        self.id = created["UserPool"]["Id"]
        self.lines: list[str] = []

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.reader.describe_user_pool(UserPoolId=self.id)["UserPool"]
        return described

    def settings(self) -> dict[str, Any]:
        """What the commands must never change: all but the triggers (custom attributes are compared apart)."""
        return {key: value for key, value in self.describe().items() if key not in NOT_COMPARED | {"SchemaAttributes"}}

    def attach(self, **options: Any) -> int:
        return triggers.attach(self.client, self.id, OURS, say=self.lines.append, **options)

    def detach(self, **options: Any) -> int:
        return triggers.detach(self.client, self.id, OURS, say=self.lines.append, **options)

    def without_calls(self) -> None:
        self.calls.made.clear()
        self.lines.clear()


@pytest.fixture
def aws() -> Iterator[Aws]:
    import boto3
    from moto import mock_aws

    def session() -> Any:
        return boto3.session.Session(region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")

    with mock_aws():
        recorded = session()
        yield Aws(recorded, CallRecorder().install(recorded), session())


@pytest.fixture
def pool(aws: Aws) -> Pool:
    return Pool(aws, **copy.deepcopy(SETTINGS))


def custom_attributes(pool: Pool) -> dict[str, dict[str, Any]]:
    return {a["Name"]: a for a in pool.describe()["SchemaAttributes"] if a["Name"].startswith("custom:")}


def test_attach_sets_both_triggers_and_keeps_every_other_setting(pool: Pool) -> None:
    # Given a pool with many non-default settings and triggers of its own
    settings = pool.settings()
    # When the triggers are attached
    assert pool.attach() == 0
    # Then our two triggers are set (V2: the pool is on Plus), its own triggers stay, nothing else changed
    assert pool.describe()["LambdaConfig"] == {
        **THEIR_TRIGGERS,
        "PostConfirmation": OURS.post_confirmation,
        "PreTokenGeneration": OURS.pre_token,
        "PreTokenGenerationConfig": {"LambdaArn": OURS.pre_token, "LambdaVersion": "V2_0"},
    }
    assert pool.settings() == settings
    # with one read, one schema change and one update, which sends every setting back
    assert pool.calls.operations == ["DescribeUserPool", "AddCustomAttributes", "UpdateUserPool"]
    (update,) = pool.calls.of("UpdateUserPool")
    assert set(update) == {"UserPoolId", "PoolName", "MfaConfiguration", *SETTINGS}
    assert {key: update[key] for key in SETTINGS if key != "LambdaConfig"} == {
        key: value for key, value in SETTINGS.items() if key != "LambdaConfig"
    }


def test_attach_adds_the_custom_attributes_of_the_field_map(pool: Pool) -> None:
    assert pool.attach() == 0
    added = custom_attributes(pool)
    assert set(added) == {"custom:department"} | set(fields.custom_cognito_attributes())
    for spec in fields.FIELDS:
        if spec.cognito_attribute in fields.custom_cognito_attributes():
            attribute = added[spec.cognito_attribute]
            assert (attribute["AttributeDataType"], attribute["Mutable"]) == ("String", True)
            assert attribute["StringAttributeConstraints"]["MaxLength"] == str(spec.max_length)


def test_attaching_twice_changes_nothing_and_writes_nothing(pool: Pool) -> None:
    # Given a pool the triggers are attached to
    assert pool.attach() == 0
    before = pool.describe()
    pool.without_calls()
    # When they are attached again, Then the pool is only read
    assert pool.attach() == 0
    assert pool.calls.operations == ["DescribeUserPool"]
    assert pool.describe() == before
    assert pool.lines[-1] == "nothing to do"


def test_dry_run_prints_the_difference_and_writes_nothing(pool: Pool) -> None:
    before = pool.describe()
    assert pool.attach(dry_run=True) == 0
    assert pool.calls.operations == ["DescribeUserPool"]
    assert pool.describe() == before
    assert f'  + LambdaConfig.PostConfirmation = "{OURS.post_confirmation}"' in pool.lines
    assert '  + LambdaConfig.PreTokenGenerationConfig.LambdaVersion = "V2_0"' in pool.lines
    assert "custom attributes to add (AddCustomAttributes): custom:tenant_id, custom:plan" in pool.lines
    assert not [line for line in pool.lines if "PreSignUp" in line]  # their triggers are not part of the diff
    assert pool.lines[-1] == "dry run: nothing written"


def test_a_lite_pool_gets_v1_pre_token_events(aws: Aws) -> None:
    pool = Pool(aws, UserPoolTier="LITE")
    assert pool.attach() == 0
    config = pool.describe()["LambdaConfig"]
    assert config["PreTokenGeneration"] == OURS.pre_token
    assert config["PreTokenGenerationConfig"] == {"LambdaArn": OURS.pre_token, "LambdaVersion": "V1_0"}


def test_another_function_on_our_trigger_is_kept_unless_forced(aws: Aws) -> None:
    # Given a pool whose post-confirmation trigger is another function
    pool = Pool(aws, LambdaConfig={"PostConfirmation": THEIRS}, UserPoolTier="ESSENTIALS")
    before = pool.describe()
    # When the triggers are attached without --force, Then nothing is written and the exit status says so
    assert pool.attach() == 1
    assert pool.calls.operations == ["DescribeUserPool"]
    assert pool.describe() == before
    assert f"error: PostConfirmation is {THEIRS} (--force replaces it)" in pool.lines
    # When forced, Then ours replaces it
    assert pool.attach(force=True) == 0
    assert pool.describe()["LambdaConfig"]["PostConfirmation"] == OURS.post_confirmation


def test_detach_restores_the_pool_as_it_was(pool: Pool) -> None:
    # Given a pool the triggers were attached to
    config, settings = pool.describe()["LambdaConfig"], pool.settings()
    assert pool.attach() == 0
    pool.without_calls()
    # When they are detached, Then its triggers and settings are what they were, in one read and one update
    assert pool.detach() == 0
    assert pool.describe()["LambdaConfig"] == config
    assert pool.settings() == settings
    assert pool.calls.operations == ["DescribeUserPool", "UpdateUserPool"]
    # and the custom attributes stay (Cognito cannot remove them)
    assert set(custom_attributes(pool)) >= set(fields.custom_cognito_attributes())
    # When detached again, Then nothing is written
    pool.without_calls()
    assert pool.detach() == 0
    assert pool.calls.operations == ["DescribeUserPool"]


def test_detach_leaves_another_functions_trigger(aws: Aws) -> None:
    pool = Pool(aws, LambdaConfig={"PostConfirmation": THEIRS, "PreTokenGeneration": OURS.pre_token})
    assert pool.detach() == 0
    assert pool.describe()["LambdaConfig"] == {"PostConfirmation": THEIRS}
    assert f"PostConfirmation is {THEIRS}: not ours, left" in pool.lines


def test_a_custom_attribute_shorter_than_the_field_map_refuses_the_attach(aws: Aws) -> None:
    # Given a pool whose custom:plan holds fewer characters than the field map's plan
    pool = Pool(aws)
    pool.reader.add_custom_attributes(
        UserPoolId=pool.id,
        CustomAttributes=[{"Name": "plan", "AttributeDataType": "String", "Mutable": True,
                           "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "4"}}],
    )  # fmt: skip
    pool.without_calls()
    # When the triggers are attached, Then nothing is written and the problem is named
    assert pool.attach() == 1
    assert pool.calls.operations == ["DescribeUserPool"]
    assert any(line.startswith("error: custom:plan holds at most 4 characters") for line in pool.lines)


def test_update_request_sends_only_what_update_user_pool_accepts() -> None:
    # Given the service model's UpdateUserPool parameters, Then WRITABLE is exactly them
    import botocore.session

    model = botocore.session.get_session().get_service_model("cognito-idp")
    accepted = set(model.operation_model("UpdateUserPool").input_shape.members) - {"UserPoolId"}
    assert set(triggers.WRITABLE) == accepted
    # and a described pool's read-only fields are dropped, its name renamed
    described = {
        "Id": "us-east-1_a",
        "Name": "users",
        "Arn": "arn",
        "Status": "Enabled",
        "CreationDate": "then",
        "EstimatedNumberOfUsers": 3,
        "SchemaAttributes": [{"Name": "email"}],
        "UsernameAttributes": ["email"],
        "Domain": "d",
        "SmsConfigurationFailure": "x",
        "MfaConfiguration": "OFF",
        "UserPoolTags": {},
    }
    assert triggers.update_request(described) == {
        "UserPoolId": "us-east-1_a",
        "PoolName": "users",
        "MfaConfiguration": "OFF",
    }


def test_update_request_moves_the_deprecated_validity_days_into_the_password_policy() -> None:
    # Given a pool as DescribeUserPool returns an old one: validity days in AdminCreateUserConfig only
    described = {
        "Id": "us-east-1_a",
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False, "UnusedAccountValidityDays": 9},
    }
    request = triggers.update_request(described)
    assert request["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": False}
    assert request["Policies"] == {"PasswordPolicy": {"TemporaryPasswordValidityDays": 9}}
    # and when both are given, the password policy's value wins
    both = {**described, "Policies": {"PasswordPolicy": {"TemporaryPasswordValidityDays": 2}}}
    assert triggers.update_request(both)["Policies"] == {"PasswordPolicy": {"TemporaryPasswordValidityDays": 2}}


def test_an_eligible_pool_keeps_our_v3_trigger() -> None:
    config = {
        "PreTokenGeneration": OURS.pre_token,
        "PreTokenGenerationConfig": {"LambdaArn": OURS.pre_token, "LambdaVersion": "V3_0"},
    }
    assert triggers.attached(config, OURS, "ESSENTIALS")["PreTokenGenerationConfig"]["LambdaVersion"] == "V3_0"
    assert triggers.attached(config, OURS, "LITE")["PreTokenGenerationConfig"]["LambdaVersion"] == "V1_0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["attach-triggers", "--user-pool-id", "us-east-1_a"], "error: name the trigger functions"),
        (
            [
                "detach-triggers",
                "--user-pool-id",
                "us-east-1_a",
                "--post-confirmation-arn",
                "x",
                "--pre-token-arn",
                "y",
            ],
            "error: not a Lambda function ARN: x",
        ),
        (["attach-triggers", "--post-confirmation-arn", OURS.post_confirmation], "error: say what to work on"),
    ],
)
def test_bad_arguments_get_a_one_line_error_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["attach-triggers", "detach-triggers"])
def test_an_unreachable_cognito_gets_a_one_line_error_and_status_1(
    command: str, monkeypatch: pytest.MonkeyPatch, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Cognito endpoint nothing listens on, and one attempt per call (no backoff to wait out)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "http://127.0.0.1:1")
    monkeypatch.setattr("ops.target.MAX_ATTEMPTS", 1)
    # When the operator runs the command
    status = main(
        [command, "--user-pool-id", f"{REGION}_AbCdEf", "--post-confirmation-arn", OURS.post_confirmation,
         "--pre-token-arn", OURS.pre_token]
    )  # fmt: skip
    # Then one line names the pool and the error, and the status is 1, with no traceback
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith(f"error: cannot read user pool {REGION}_AbCdEf: EndpointConnectionError: ")
    assert out.count("\n") == 1
