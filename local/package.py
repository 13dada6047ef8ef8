"""One function's deployment artifact, as `sam build` asks for it (`BuildMethod: makefile`).

``python -m local.package <LogicalId> <ARTIFACTS_DIR> <runtime-dependencies>`` writes:

- the handler's module and every project module it imports, found by reading the imports
  (``shared/`` holds what several functions use; each function gets only what it imports);
- the runtime dependencies (requirements.txt, installed once per build into a pure-Python
  folder: every dependency is pure Python, so one artifact runs on arm64 and x86_64 alike),
  pruned to the packages the handler loads: a function never ships a file it does not import;
- bytecode for what the handler loads at cold start: Lambda's /var/task is read-only, so
  without it every cold start compiles powertools and the project's modules again.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

from local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = (
    "shared",
    "triggers",
    "stream_handlers",
    "api",
    "consumers",
    "profile_sync_consumer",
    "lifecycle",
)
# A dependency's second-level packages are kept only when the handler loads from them.
SPLIT_PACKAGES = ("aws_lambda_powertools", "aws_lambda_powertools/utilities")


class PackageError(RuntimeError):
    """The function cannot be packaged; the message says why."""


def handler_module(logical_id: str) -> str:
    """The handler's module path (``triggers.post_confirmation.app``) from template.yaml."""
    resource = load_template(ROOT / "template.yaml")["Resources"].get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise PackageError(f"{logical_id} is not a function in template.yaml")
    return str(resource["Properties"]["Handler"]).rpartition(".")[0]


def project_files(module: str) -> list[Path]:
    """The files of ``module`` and of every project module it imports, transitively, with their packages."""
    found: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = _module_path(name)
        if path is None or path in found:
            continue
        found.add(path)
        parts = name.split(".")
        for depth in range(1, len(parts)):  # the packages on the way: their __init__.py
            init = ROOT.joinpath(*parts[:depth], "__init__.py")
            if init.exists():
                found.add(init)
        pending.extend(_imports(path, name))
    return sorted(found)


def _module_path(name: str) -> Path | None:
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path, module: str) -> list[str]:
    """Project modules ``path`` imports (at any depth: a function-level import counts too)."""
    names: list[str] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)  # `from shared import aws`
    return [name for name in names if name.split(".")[0] in PROJECT_PACKAGES]


def loaded_dependencies(artifact: Path, module: str, interpreter: str) -> set[str]:
    """The artifact's files the handler loads at import, found by importing it from the artifact.

    ``interpreter`` stands in for the Lambda runtime (python3.13 with only boto3): a module the
    artifact lacks fails the import here, as it would at the function's cold start.
    """
    probe = (
        "import importlib, json, sys; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2]); "
        "print(json.dumps(sorted({getattr(m, '__file__', None) or '' for m in list(sys.modules.values())})))"
    )
    completed = subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [interpreter, "-I", "-c", probe, str(artifact), module],
        capture_output=True,
        text=True,
        check=False,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "package", "PATH": ""},
    )
    if completed.returncode:
        raise PackageError(f"{module} does not import from its artifact:\n{completed.stderr[-2000:]}")
    root = str(artifact.resolve())
    return {name for name in json.loads(completed.stdout) if name.startswith(root)}


def prune(artifact: Path, loaded: set[str]) -> list[Path]:
    """Remove the second-level packages of split dependencies that nothing loaded; returns what went."""
    removed = []
    for parent in SPLIT_PACKAGES:
        folder = artifact / parent
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if (
                child.is_dir()
                and child.name != "__pycache__"
                and not any(name.startswith(f"{child}/") for name in loaded)
            ):
                shutil.rmtree(child)
                removed.append(child.relative_to(artifact))
    return removed


def package(logical_id: str, artifacts: Path, dependencies: Path, interpreter: str) -> None:
    """Write the function's artifact into ``artifacts`` (sam build's ARTIFACTS_DIR)."""
    module = handler_module(logical_id)
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copytree(dependencies, artifacts, dirs_exist_ok=True, ignore=shutil.ignore_patterns("bin", "__pycache__"))
    for path in project_files(module):
        target = artifacts / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    loaded = loaded_dependencies(artifacts, module, interpreter)
    prune(artifacts, loaded)
    # Unchecked-hash bytecode of what the handler loads: valid without a writable cache, and
    # the same bytes for the same sources wherever the build runs (paths as in /var/task).
    root = str(artifacts.resolve())
    for name in sorted(loaded_dependencies(artifacts, module, interpreter)):
        if name.endswith(".py"):
            py_compile.compile(
                name,
                cfile=importlib.util.cache_from_source(name),
                dfile="/var/task" + name.removeprefix(root),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        usage = "usage: python -m local.package <LogicalId> <ARTIFACTS_DIR> <dependencies folder> <lambda-like python>"
        print(usage, file=sys.stderr)  # noqa: T201
        return 2
    try:
        package(argv[0], Path(argv[1]), Path(argv[2]), argv[3])
    except PackageError as exc:
        print(f"local.package: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
