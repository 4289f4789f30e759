"""The end-of-run check finds a process the run started and left running."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests import leftovers, patience


def test_a_marked_process_is_found_and_killed() -> None:
    run_id = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, leftovers.MARK: run_id},
    )
    try:
        found = leftovers.find(run_id)
        assert [p.pid for p in found] == [proc.pid]
        assert "time.sleep(600)" in found[0].command
        leftovers.kill(found)
        proc.wait(patience.seconds(10))
        assert leftovers.find(run_id) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_process_an_xdist_worker_started_is_the_runs() -> None:
    run_id = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, leftovers.MARK: leftovers.worker_mark(run_id, "gw1")},
    )
    try:
        assert [p.pid for p in leftovers.find(run_id)] == [proc.pid]
    finally:
        proc.kill()
        proc.wait()


def test_processes_of_another_run_are_not_ours() -> None:
    run_id = uuid.uuid4().hex
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            env={**os.environ, leftovers.MARK: mark},
        )
        for mark in ("another-run", f"{run_id}0", leftovers.worker_mark(f"{run_id}0", "gw0"))
    ]
    try:
        assert leftovers.find(run_id) == []
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_this_run_is_marked() -> None:
    assert os.environ.get(leftovers.MARK)
