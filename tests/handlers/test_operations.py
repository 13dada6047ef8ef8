"""The runbook, the saved Logs Insights queries and the dashboard agree with the template and the code.

Generic on purpose: every alarm, log group and function the template declares is covered,
later additions included.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.package import handler_module, project_files
from local.support import (
    ROOT,
    function_environment,
    resource,
    resources_of_type,
    template,
    transformed,
    transformed_of_type,
)
from local.template import Resolver

RUNBOOK = ROOT / "docs" / "runbook.md"
ALARMS = sorted(resources_of_type("AWS::CloudWatch::Alarm"))
QUERIES = sorted(resources_of_type("AWS::Logs::QueryDefinition"))
FUNCTIONS = sorted(resources_of_type("AWS::Serverless::Function"))
# Not SAM resources: the transform keeps their logical ids.
DASHBOARDS = sorted(resources_of_type("AWS::CloudWatch::Dashboard"))
# The functions publish to the namespace AppName (Globals); the checks resolve it to its default.
APP_NAMESPACE = str(template()["Parameters"]["AppName"]["Default"])
# The saved queries that answer "anything wrong anywhere": they read every function's log group.
ALL_FUNCTIONS_QUERIES = ("ErrorsQuery", "InvocationsQuery")


# --- what the code emits ----------------------------------------------------------------------


def _metric_name_patterns(tree: ast.AST) -> set[str]:
    """Regular expressions for the names a module passes to ``metrics.add_metric(name=...)``.

    A literal is itself; an f-string matches any value in its fields; a conditional is both
    branches; a variable is every string the module assigns to it (plainly or in a tuple).
    """
    assigned: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                    assigned.setdefault(target.id, set()).add(str(node.value.value))
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for name, value in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(name, ast.Name) and isinstance(value, ast.Constant):
                            assigned.setdefault(name.id, set()).add(str(value.value))

    def patterns(value: ast.expr) -> set[str]:
        match value:
            case ast.Constant(value=str(text)):
                return {re.escape(text)}
            case ast.JoinedStr(values=parts):
                return {
                    "".join(re.escape(str(part.value)) if isinstance(part, ast.Constant) else ".+" for part in parts)
                }
            case ast.IfExp(body=body, orelse=orelse):
                return patterns(body) | patterns(orelse)
            case ast.Name(id=name):
                return {re.escape(text) for text in assigned.get(name, set())}
        raise AssertionError(f"add_metric name not understood: {ast.dump(value)}")

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_metric":
            for keyword in node.keywords:
                if keyword.arg == "name":
                    found |= patterns(keyword.value)
    return found


@cache
def _function_files(logical_id: str) -> tuple[Path, ...]:
    return tuple(project_files(handler_module(logical_id)))


@cache
def emitted_metric_patterns(logical_id: str) -> frozenset[str]:
    """What a function's code (its handler and every project module it imports) may count."""
    found: set[str] = set()
    for path in _function_files(logical_id):
        found |= _metric_name_patterns(ast.parse(path.read_text(), str(path)))
    return frozenset(found)


def functions_of_service(service: str) -> list[str]:
    return [
        logical_id
        for logical_id in FUNCTIONS
        if function_environment(logical_id).get("POWERTOOLS_SERVICE_NAME") == service
    ]


def emits(service: str, metric: str) -> bool:
    return any(
        re.fullmatch(pattern, metric)
        for logical_id in functions_of_service(service)
        for pattern in emitted_metric_patterns(logical_id)
    )


def test_emitted_metric_names_follow_variables_conditionals_and_fstrings() -> None:
    # Given the functions' code, When the names they count are read,
    # Then a name held in a variable, one chosen by a conditional and one built by an f-string are found
    assert emits("pre-token-generation", "ProfileStoreUnavailable")  # metric, problem, extra = "...", ...
    assert emits("post-confirmation", "ProfileCreateRepeated")  # "ProfileCreated" if created else ...
    assert emits("profile-api", "Status5xx")  # f"Status{status // 100}xx"
    assert emits("sync-cognito", "PoisonRecords")  # counted in shared/streams.py, which the handler imports
    assert not emits("post-confirmation", "PoisonRecords")
    assert not emits("publish-events", "CognitoThrottled")


# --- the dashboard ----------------------------------------------------------------------------


@cache
def _document() -> dict[str, Any]:
    return transformed()


def _resolver() -> Resolver:
    """Resolves every Ref and GetAtt to a name that says which resource and attribute it came from."""
    document = _document()
    resources = document["Resources"]
    return Resolver(
        document,
        refs={logical_id: f"ref:{logical_id}" for logical_id in resources},
        attributes={
            (logical_id, attribute): f"getatt:{logical_id}.{attribute}"
            for logical_id in resources
            for attribute in ("Arn", "QueueName")
        },
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard's body, parsed after substitution, by logical id."""
    found = transformed_of_type(_document(), "AWS::CloudWatch::Dashboard")
    resolver = _resolver()
    return {
        logical_id: json.loads(resolver.resolve(body["Properties"]["DashboardBody"]))
        for logical_id, body in found.items()
    }


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    """Every entry of every metric widget's ``metrics`` array."""
    return [row for widget in body["widgets"] if widget["type"] == "metric" for row in widget["properties"]["metrics"]]


def test_the_app_namespace_is_the_one_the_functions_publish_to() -> None:
    # Given the Globals, When the functions' metrics namespace is read, Then it is AppName,
    # whose default the dashboard checks below resolve to
    namespace = template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == {"Ref": "AppName"}


def test_the_template_has_a_dashboard() -> None:
    assert DASHBOARDS
    assert set(dashboards()) == set(DASHBOARDS)


@pytest.mark.parametrize("logical_id", DASHBOARDS)
def test_dashboard_body_is_json_of_widgets_on_the_grid_after_substitution(logical_id: str) -> None:
    # Given the dashboard body with every ${...} substituted, When it is parsed, Then it is JSON
    # whose widgets fit the 24-column grid and hold no unresolved name
    body = dashboards()[logical_id]
    assert body["widgets"]
    for widget in body["widgets"]:
        assert widget["type"] in {"metric", "text", "alarm", "log"}
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24
    assert "${" not in json.dumps(body)


@pytest.mark.parametrize("logical_id", DASHBOARDS)
def test_dashboard_shows_only_metrics_the_functions_emit_in_their_namespace(logical_id: str) -> None:
    # Given every metric of the app's namespace the dashboard shows, plain or found by SEARCH,
    # When its name and service are compared with the code, Then that service's function counts it
    shown: list[tuple[str, str]] = []
    for row in metric_rows(dashboards()[logical_id]):
        if isinstance(row[0], dict):
            expression = row[0]["expression"]
            search = re.fullmatch(
                r"SEARCH\('\{\"(?P<namespace>[^\"]+)\",[^}]*\} service=\"(?P<service>[^\"]+)\" "
                r"MetricName=\"(?P<name>[^\"]+)\"', '\w+', \d+\)",
                expression,
            )
            assert search, f"expression not understood: {expression}"
            assert search["namespace"] == APP_NAMESPACE
            shown.append((search["service"], search["name"]))
        elif row[0] == APP_NAMESPACE:
            dimensions = dict(zip(row[2::2], row[3::2], strict=False))
            assert set(dimensions) <= {"service"}, f"{row[1]}: powertools publishes with the service dimension only"
            shown.append((dimensions["service"], row[1]))
    assert shown
    missing = [f"{name} (service {service})" for service, name in shown if not emits(service, name)]
    assert not missing, f"the dashboard shows metrics no function emits: {missing}"


DIMENSION_TYPES = {
    "FunctionName": "AWS::Lambda::Function",
    "QueueName": "AWS::SQS::Queue",
    "BucketName": "AWS::S3::Bucket",
}


@pytest.mark.parametrize("logical_id", DASHBOARDS)
def test_dashboard_aws_metrics_name_resources_of_the_stack(logical_id: str) -> None:
    # Given the AWS metrics the dashboard shows, When their resource dimensions are resolved,
    # Then each names a resource of the stack of the right type
    resources = _document()["Resources"]
    checked = 0
    for row in metric_rows(dashboards()[logical_id]):
        if isinstance(row[0], dict) or not row[0].startswith("AWS/"):
            continue
        for name, value in zip(row[2::2], row[3::2], strict=False):
            if name not in DIMENSION_TYPES:
                continue
            source = re.fullmatch(r"(?:ref|getatt):(\w+)(?:\.\w+)?", value)
            assert source, f"{row[1]} {name}={value} is not a resource of the stack"
            assert resources[source[1]]["Type"] == DIMENSION_TYPES[name], f"{row[1]} {name} names {source[1]}"
            checked += 1
    assert checked


@pytest.mark.parametrize("logical_id", DASHBOARDS)
def test_dashboard_shows_the_state_of_every_alarm(logical_id: str) -> None:
    # Given the dashboard's alarm widgets, When their alarms are listed, Then they are exactly the template's
    shown = {
        alarm
        for widget in dashboards()[logical_id]["widgets"]
        if widget["type"] == "alarm"
        for alarm in widget["properties"]["alarms"]
    }
    alarms = transformed_of_type(_document(), "AWS::CloudWatch::Alarm")
    assert shown == {f"getatt:{alarm}.Arn" for alarm in alarms}


# --- the saved queries ------------------------------------------------------------------------


def query_log_groups(logical_id: str) -> list[str]:
    """The log groups a query definition reads, as logical ids (each must be a Ref)."""
    names = resource(logical_id)["Properties"]["LogGroupNames"]
    assert all(set(name) == {"Ref"} for name in names), f"{logical_id}: log groups are named by Ref"
    return [name["Ref"] for name in names]


def function_log_groups() -> dict[str, str]:
    """Each function's log group (logical id), from its LoggingConfig."""
    return {
        logical_id: resource(logical_id)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for logical_id in FUNCTIONS
    }


def test_the_template_has_query_definitions() -> None:
    assert set(ALL_FUNCTIONS_QUERIES) <= set(QUERIES)


@pytest.mark.parametrize("logical_id", QUERIES)
def test_query_definition_reads_only_log_groups_of_the_template(logical_id: str) -> None:
    # Given a saved query, When its log groups are read, Then each is a log group the template declares
    groups = query_log_groups(logical_id)
    assert groups
    assert len(groups) == len(set(groups))
    log_groups = resources_of_type("AWS::Logs::LogGroup")
    assert [group for group in groups if group not in log_groups] == []


@pytest.mark.parametrize("logical_id", ALL_FUNCTIONS_QUERIES)
def test_all_functions_queries_read_every_functions_log_group(logical_id: str) -> None:
    # Given a query for "anywhere", When its log groups are compared with the functions', Then none is missing
    assert set(query_log_groups(logical_id)) == set(function_log_groups().values())


QUOTED_MESSAGE = re.compile(r'message\s+(?:=|like)\s+"([^"]+)"')


@pytest.mark.parametrize("logical_id", QUERIES)
def test_queries_filter_on_messages_the_functions_log(logical_id: str) -> None:
    # Given the log messages a query filters on, When the code of the functions whose groups it
    # reads is searched, Then each message is there (a reworded log line would empty the query)
    groups = set(query_log_groups(logical_id))
    functions = [function for function, group in function_log_groups().items() if group in groups]
    source = "\n".join(path.read_text() for function in functions for path in _function_files(function))
    messages = QUOTED_MESSAGE.findall(resource(logical_id)["Properties"]["QueryString"])
    assert [message for message in messages if message not in source] == []


# --- the runbook ------------------------------------------------------------------------------


def runbook_sections() -> dict[str, str]:
    """The runbook's level-3 sections: heading -> text up to the next heading of level 2 or 3."""
    text = RUNBOOK.read_text()
    parts = re.split(r"^(#{2,3}) (.+)$", text, flags=re.MULTILINE)
    return {parts[i + 1].strip(): parts[i + 2] for i in range(1, len(parts) - 2, 3) if parts[i] == "###"}


@pytest.mark.parametrize("logical_id", ALARMS)
def test_every_alarm_has_a_runbook_section_naming_its_metric(logical_id: str) -> None:
    # Given an alarm of the template, When the runbook is read, Then a section is headed by its
    # logical id and names the metric it watches (what it means, where to look, what to do)
    sections = runbook_sections()
    assert logical_id in sections, f"docs/runbook.md needs a section '### {logical_id}'"
    section = sections[logical_id]
    assert resource(logical_id)["Properties"]["MetricName"] in section
    for part in ("**Means**", "**Look**", "**Do**"):
        assert part in section, f"the {logical_id} section lacks {part}"


@pytest.mark.parametrize("logical_id", QUERIES)
def test_every_saved_query_is_named_in_the_runbook(logical_id: str) -> None:
    name = resource(logical_id)["Properties"]["Name"]["Fn::Sub"]
    assert name.startswith("${AppName}/")
    assert f"{APP_NAMESPACE}/{name.removeprefix('${AppName}/')}" in RUNBOOK.read_text()
