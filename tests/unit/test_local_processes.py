"""The local stack's children are stopped by process group: nothing is left running."""

import time

from local.processes import Supervisor, running


def test_stop_ends_each_child_and_what_it_started() -> None:
    # Given a child that starts a grandchild of its own (as npm or java launchers may)
    supervisor = Supervisor()
    child = supervisor.start("shell", ["sh", "-c", "sleep 60 & echo $!; wait"])
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
