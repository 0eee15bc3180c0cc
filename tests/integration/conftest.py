import pytest

from harness import Node, release_ports


@pytest.fixture(autouse=True)
def _release_ports():
    """The ports a test took (harness.free_ports) are reserved until it ends."""
    yield
    release_ports()


@pytest.fixture
def nodes(tmp_path):
    """Factory for daemons; every one started is stopped at the end of the test."""
    made = []

    def make(node_id=1, extra="", start=True, **kw):
        n = Node(tmp_path, node_id, extra, **kw)
        made.append(n)
        return n.start() if start else n

    yield make
    for n in made:
        if n.proc and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()
