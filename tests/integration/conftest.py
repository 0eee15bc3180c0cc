"""The integration tests take everything they share from the harness package
(tests/harness), never from one another; its fixtures (cleanup, nodes,
agents, and the port release after each test) are loaded here."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # tests/: the harness package

from harness.fixtures import _release_ports, agents, cleanup, nodes  # noqa: E402,F401
