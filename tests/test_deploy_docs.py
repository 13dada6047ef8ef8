"""Deploying: samconfig.toml, `make deploy` and docs/deploy.md agree with template.yaml.

`make deploy` itself needs AWS; what is checked here is everything short of that: the committed
configuration parses as the sam CLI parses it and names only the template's parameters with values
CloudFormation accepts, the target builds before it deploys with the chosen configuration, and
the parameter table of docs/deploy.md holds every parameter with its actual default.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from functools import cache
from typing import Any

import pytest

from local.support import ROOT, TOOLS_PYTHON, template

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
SAMCONFIG = ROOT / "samconfig.toml"
PRINT_ARGS = "printf '[%s]\\n'"  # stands in for sam: prints each argument it gets


def parameters() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template()["Parameters"]
    return found


def documented_defaults() -> dict[str, str]:
    """The parameter table of docs/deploy.md: parameter -> its default cell."""
    section = DEPLOY_DOC.read_text().split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, flags=re.MULTILINE)
    return {name: cell.strip() for name, cell in rows}


def as_cell(default: Any) -> str:
    return "(empty)" if default in ("", None) else f"`{default}`"


@cache
def sam_deploy_settings(env: str = "default") -> dict[str, Any]:
    """samconfig.toml's deploy settings for ``env`` as the sam CLI reads them (its SamConfig, in the
    tools environment), ``parameter_overrides`` parsed by its own option type into a dict."""
    script = (
        "import json, sys\n"
        "from samcli.cli.types import CfnParameterOverridesType\n"
        "from samcli.lib.config.samconfig import SamConfig\n"
        "settings = SamConfig(sys.argv[1], 'samconfig.toml').get_all(['deploy'], 'parameters', env=sys.argv[2])\n"
        "text = settings.get('parameter_overrides', '')\n"
        "settings['parameter_overrides'] = CfnParameterOverridesType().convert((text,), None, None)\n"
        "print(json.dumps(settings))\n"
    )
    if not TOOLS_PYTHON.exists():
        pytest.fail(f"{TOOLS_PYTHON} is missing: run 'make template' (it installs aws-sam-cli)")
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [str(TOOLS_PYTHON), "-c", script, str(ROOT), env], capture_output=True, text=True, timeout=60, check=True
    )
    settings: dict[str, Any] = json.loads(result.stdout)
    return settings  # cached: treat it as read-only


def make_dry_run(*variables: str) -> list[str]:
    """The commands `make deploy` would run, without running them."""
    result = subprocess.run(  # noqa: S603 - make with this repository's Makefile
        ["make", "--no-print-directory", "-n", "deploy", *variables],  # noqa: S607 - make from PATH, as the README says
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


def test_every_template_parameter_is_in_the_deploy_table_with_its_actual_default() -> None:
    # Given the template's parameters and the document's table
    documented = documented_defaults()

    # Then each parameter has a row showing the template's default, and no row names a parameter that is gone
    assert sorted(documented) == sorted(parameters()), "docs/deploy.md's parameter table differs from template.yaml"
    for name, spec in parameters().items():
        assert documented[name] == as_cell(spec.get("Default")), f"{name}: default in docs/deploy.md is stale"


def test_samconfig_parses_and_keeps_building_in_source() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())

    assert config["default"]["build"]["parameters"]["build_in_source"] is True
    assert sam_deploy_settings()["stack_name"] == "profile-sync"
    assert sam_deploy_settings()["capabilities"] == "CAPABILITY_IAM"


def test_committed_parameter_overrides_name_only_template_parameters() -> None:
    # When the sam CLI parses the committed overrides
    overrides = sam_deploy_settings()["parameter_overrides"]

    # Then it finds some, each one a parameter of the template, none a secret
    assert overrides
    assert set(overrides) <= set(parameters()), f"unknown parameters: {set(overrides) - set(parameters())}"
    assert not [name for name in overrides if parameters()[name].get("NoEcho")], "a secret is committed"


def test_deploy_doc_lists_exactly_the_committed_overrides_a_plain_deploy_resets() -> None:
    # Given the committed overrides, which every plain `make deploy` sends again
    overrides = sam_deploy_settings()["parameter_overrides"]

    # Then docs/deploy.md's warning names each one with its committed value, and no other
    text = DEPLOY_DOC.read_text()
    warning = text.split("**A one-off value of a committed parameter lasts one deploy.**", 1)[1].split("\n\n", 1)[0]
    listed = dict(re.findall(r'`(\w+)="([^"]*)"`', warning))
    assert listed == overrides


def test_committed_parameter_overrides_are_values_cloudformation_accepts() -> None:
    overrides = sam_deploy_settings()["parameter_overrides"]

    for name, value in overrides.items():
        spec = parameters()[name]
        if "AllowedValues" in spec:
            assert value in [str(allowed) for allowed in spec["AllowedValues"]], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if spec.get("Type") == "Number":
            number = float(value)
            assert float(spec.get("MinValue", number)) <= number <= float(spec.get("MaxValue", number)), name


def test_make_deploy_builds_first_then_deploys_with_the_chosen_configuration() -> None:
    # When make says what `make deploy CONFIG_ENV=staging` runs
    commands = make_dry_run("CONFIG_ENV=staging")

    # Then sam build comes first, and sam deploy reads the staging tables of samconfig.toml
    build = next(i for i, line in enumerate(commands) if re.search(r"/sam build\b", line))
    deploy = next(i for i, line in enumerate(commands) if re.search(r"/sam deploy\b", line))
    assert build < deploy
    assert "--config-env staging" in commands[deploy]


@pytest.mark.parametrize(
    ("parameters_value", "expected"),
    [
        ("", []),
        (
            'DomainPrefix="acme login" Tracing=Active',
            ["--parameter-overrides", 'DomainPrefix="acme login" Tracing=Active'],
        ),
    ],
)
def test_make_deploy_passes_parameters_as_one_override_argument(parameters_value: str, expected: list[str]) -> None:
    # Given the deploy command make would run, with a stand-in that prints its arguments
    (line,) = [line for line in make_dry_run(f"SAM={PRINT_ARGS}") if " deploy --config-env " in line]

    # When the shell runs it with PARAMETERS set (as make exports it)
    result = subprocess.run(  # noqa: S603 - bash runs the Makefile's own recipe
        ["bash", "-c", line], env={"PATH": "/usr/bin:/bin", "PARAMETERS": parameters_value},  # noqa: S607
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    # Then sam gets the configuration environment and, when given, the whole of PARAMETERS as one value
    arguments = [item[1:-1] for item in result.stdout.splitlines()]
    assert arguments == ["deploy", "--config-env", "default", *expected]


def test_readme_links_both_documents_and_names_make_deploy() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "(docs/deploy.md)" in readme
    assert "(docs/capacity.md)" in readme
    assert re.search(r"^make deploy\b", readme, flags=re.MULTILINE)
