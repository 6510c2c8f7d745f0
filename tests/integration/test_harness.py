"""The test harness leaves nothing behind: a server (its workers and sidecar included) dies
with the process that started it, and PostgreSQL databases of dead test processes are
dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from .conftest import ENFORCE

STARTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mlflow_supplychain.server.launcher import run_server
    with run_server(Path(sys.argv[1]), Path(sys.argv[2]), workers=2, sidecar=True) as server:
        print(server.process.pid, flush=True)
        time.sleep(600)
""")


def _members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    return [int(pid) for pid, group, stat in (line.split() for line in out.splitlines())
            if int(group) == pgid and not stat.startswith("Z")]


@pytest.mark.slow
def test_a_server_with_workers_and_sidecar_dies_with_its_starter(tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(ENFORCE), str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)
    pgid = 0
    try:
        pgid = int(starter.stdout.readline())
        # mlflow server, uvicorn with two workers, the sidecar and its scan workers
        assert len(_members(pgid)) >= 4, _members(pgid)
        starter.send_signal(signal.SIGKILL)  # as the OOM killer would: no clean-up runs
        starter.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _members(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _members(pgid) == []
    finally:
        starter.kill()
        starter.wait(timeout=10)
        if pgid and _members(pgid):
            os.killpg(pgid, signal.SIGKILL)


@pytest.mark.postgres
def test_databases_of_dead_test_processes_are_dropped(supplychain_postgres_uri):
    import psycopg2
    from psycopg2 import sql

    from mlflow_supplychain.testing.pytest_plugin import drop_stale_databases

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names a process that no longer exists
    dead, alive = f"mlflow_sc_{gone.pid}_{'d' * 12}", f"mlflow_sc_{os.getpid()}_{'a' * 12}"
    conn = psycopg2.connect(supplychain_postgres_uri)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in (dead, alive):
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            dropped = drop_stale_databases(cur)
            cur.execute("SELECT datname FROM pg_database WHERE datname IN (%s, %s)",
                        (dead, alive))
            left = {name for (name,) in cur.fetchall()}
        assert dead in dropped and alive not in dropped
        assert left == {alive}
    finally:
        with conn.cursor() as cur:
            for name in (dead, alive):
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.close()
