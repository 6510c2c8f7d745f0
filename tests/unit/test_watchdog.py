"""A server's process group dies with the process that started it, grandchildren included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

STARTER = textwrap.dedent("""
    import subprocess, sys, time
    from mlflow_supplychain.server.launcher import _start_watchdog
    # A stand-in server: its own session, with a child of its own (like uvicorn's workers).
    server = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"],
        start_new_session=True)
    _start_watchdog(server.pid)
    print(server.pid, flush=True)
    time.sleep(300)
""")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    return [int(pid) for pid, group, stat in (line.split() for line in out.splitlines())
            if int(group) == pgid and not stat.startswith("Z")]


def test_killing_the_starter_stops_the_whole_server_group():
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE,
                               text=True)
    try:
        pgid = int(starter.stdout.readline())
        deadline = time.monotonic() + 10
        while len(_members(pgid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_members(pgid)) == 2  # the stand-in server and its child
        starter.send_signal(signal.SIGKILL)  # as the OOM killer would: no clean-up runs
        starter.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _members(pgid) == []
    finally:
        starter.kill()
        starter.wait(timeout=10)
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
