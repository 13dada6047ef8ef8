"""The local stack reads template.yaml as the one description of the application (no sockets)."""

from pathlib import Path

from local.template import Resolver, functions, load_template

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_gets_globals_and_its_own_environment() -> None:
    # Given the project's template
    template = load_template(ROOT / "template.yaml")
    # When its functions are read
    specs = functions(template)
    # Then each has a dotted handler, the global variables and its own
    post_confirmation = specs["PostConfirmationFunction"]
    assert post_confirmation.handler == "triggers.post_confirmation.app.handler"
    assert post_confirmation.environment["PROFILE_TABLE_NAME"] == {"Ref": "ProfileTable"}
    assert post_confirmation.environment["POWERTOOLS_SERVICE_NAME"] == "post-confirmation"
    assert post_confirmation.timeout == 5


def test_intrinsics_resolve_to_the_local_names() -> None:
    # Given a template using the intrinsics the project uses
    template = {
        "Parameters": {"AppName": {"Default": "profile-sync"}, "Google": {"Default": ""}},
        "Conditions": {"HasGoogle": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Google"}, ""]}]}},
        "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}, "Queue": {"Type": "AWS::SQS::Queue"}},
    }
    resolver = Resolver(template, refs={"Table": "profiles"}, attributes={("Queue", "Arn"): "arn:queue"})
    value = {
        "Name": {"Fn::Sub": "${AppName}-${AWS::Region}-${Table}"},
        "Target": {"Fn::GetAtt": ["Queue", "Arn"]},
        "Providers": ["COGNITO", {"Fn::If": ["HasGoogle", "Google", {"Ref": "AWS::NoValue"}]}],
    }
    # When resolved
    resolved = resolver.resolve(value)
    # Then Refs, Subs, GetAtts and conditions follow the local stack, and NoValue items vanish
    assert resolved == {
        "Name": "profile-sync-us-east-1-profiles",
        "Target": "arn:queue",
        "Providers": ["COGNITO"],
    }
