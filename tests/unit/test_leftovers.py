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


def test_processes_of_another_run_are_not_ours() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, leftovers.MARK: "another-run"},
    )
    try:
        assert leftovers.find(uuid.uuid4().hex) == []
    finally:
        proc.kill()
        proc.wait()


def test_this_run_is_marked() -> None:
    assert os.environ.get(leftovers.MARK)
