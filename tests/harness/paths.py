"""Where the things under test are, and the one way to wait for a state.

FIELDRELAY_BUILD picks the build directory (build-asan for the sanitized
daemon); FIELDRELAY_TEST_DATA the test data (tests/data by default).
"""
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("FIELDRELAY_BUILD", "build")
DAEMON = BUILD / "fieldrelayd"
CLI = BUILD / "fieldrelay"
TEST_DATA = Path(os.environ.get("FIELDRELAY_TEST_DATA", ROOT / "tests" / "data"))
HELPERS = BUILD / "tests" / "integration" / "helpers"


def wait_for(pred, timeout=20.0, what="condition"):
    """Poll pred() until it returns a true value; fail after timeout seconds.
    Waiting is always this (a state with a deadline), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def agent_program(name):
    """The path of agent NAME's program: build/fieldrelay-NAME."""
    return BUILD / f"fieldrelay-{name}"


def helper_tool(name):
    """The path of a helper program of tests/integration/helpers (bundletool,
    admintool, ...), built first if it is missing; the calling test fails if
    it cannot be built."""
    tool = HELPERS / name
    if not tool.exists():
        r = subprocess.run(["make", "--no-print-directory", "BUILD=" + os.path.relpath(BUILD, ROOT),
                            str(tool.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            import pytest
            pytest.fail(f"cannot build {name}:\n" + r.stdout + r.stderr)
    return tool
