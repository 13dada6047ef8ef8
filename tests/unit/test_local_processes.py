"""The local stack's children are stopped by process group: nothing is left running."""

import threading
import time
from pathlib import Path

import pytest

from local.processes import Supervisor, _major_version, environment


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_stop_ends_each_child_and_what_it_started() -> None:
    # Given a child that starts a grandchild of its own (as npm or java launchers may)
    supervisor = Supervisor()
    child = supervisor.start("shell", ["sh", "-c", "sleep 60 & echo $!; wait"], environment())
    deadline = time.monotonic() + 5
    while not child.log_path.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = int(child.log_path.read_text().split()[0])
    # When the supervisor stops
    supervisor.stop()
    # Then neither is running any more
    assert child.process.poll() is not None
    time.sleep(0.1)
    assert not running(grandchild)


def test_tool_versions_are_read_as_java_and_node_print_them() -> None:
    # Given the version lines java (old and new numbering) and node print
    def major(line: str) -> int | None:
        return _major_version(["sh", "-c", f"echo '{line}' >&2"])

    # Then the major version is read from each
    assert major('openjdk version "17.0.15" 2025-04-15') == 17
    assert major('java version "1.8.0_292"') == 8
    assert major("v20.20.2") == 20
    assert major("something else") is None


def test_a_child_started_from_a_short_lived_thread_outlives_it() -> None:
    # Given a supervisor, and a child started from a thread that then ends (as a request thread of
    # the Invoke API or the HTTP API starts a function on its first invocation)
    supervisor = Supervisor()
    started: list[int] = []
    thread = threading.Thread(
        target=lambda: started.append(supervisor.start("sleeper", ["sleep", "60"], environment()).process.pid)
    )
    thread.start()
    thread.join()
    try:
        # When a moment passes after the thread ended
        time.sleep(0.3)
        # Then the child is still running (PR_SET_PDEATHSIG follows the forking thread, not the process)
        assert running(started[0])
    finally:
        supervisor.stop()


def test_the_fast_start_options_are_used_only_by_a_jvm_that_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from local import processes

    def version(command: list[str]) -> int | None:
        if command[0].endswith("java"):
            return None if refuse and processes.FAST_START_JAVA_OPTIONS[0] in command else 17
        return 20

    monkeypatch.setattr("shutil.which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(processes, "_major_version", version)
    monkeypatch.setattr(processes, "JAVA_OPTIONS", [])
    refuse = False
    processes.check_tools()
    assert processes.JAVA_OPTIONS == processes.FAST_START_JAVA_OPTIONS
    refuse = True  # e.g. OpenJ9: unknown -XX options end the JVM before it prints a version
    processes.check_tools()  # still no error: the plain -version says 17
    assert processes.JAVA_OPTIONS == []
