"""The one clean-up style of the harness.

Everything the harness starts (a Node, an Agent, an emulator, a simulator, a
Direwolf pair, network namespaces) can be stopped at any time, in any state,
more than once: a Node and an Agent by kill(), the rest by stop(), any other
program's subprocess.Popen by end_process().  A test never stops things by
hand (a loop of kill() and wait()); it has that done for it by one of:

  - a with block (every harness object is a context manager; running() and
    ended() make one of a command or a Popen);
  - a pytest fixture that hands what it makes to Cleanup (the `cleanup`,
    `nodes` and `agents` fixtures of harness.fixtures do);
  - stop_all(things) at the end of a fixture, or in the finally of a test
    that keeps its own list.

Either way everything is stopped last first, each one even when stopping
another one failed, and the first failure is raised after all are stopped
(an emulator that crashed, an agent that exited with an error).
"""
import contextlib
import subprocess

from .agent import Agent
from .node import Node


def end_process(p):
    """End a subprocess.Popen whatever its state (SIGKILL if it still runs)
    and wait for it; its pipes stay open for the caller to read."""
    if p.poll() is None:
        p.kill()
        p.wait()


@contextlib.contextmanager
def ended(p):
    """The with block, then end_process(p), whatever happened in it."""
    try:
        yield p
    finally:
        end_process(p)


def running(cmd, **popen):
    """subprocess.Popen(cmd, **popen) for the with block, ended after it:
    `with running([...], stdout=subprocess.PIPE) as p:`."""
    return ended(subprocess.Popen(cmd, **popen))


def _stop_one(x):
    if isinstance(x, (Node, Agent)):
        x.kill()
    elif isinstance(x, subprocess.Popen):
        end_process(x)
    else:
        x.stop()


class Cleanup:
    """What one test started, undone last first when it ends (close())."""

    def __init__(self):
        self._stack = contextlib.ExitStack()

    def add(self, thing):
        """Stop thing at the end (Node, Agent: kill(); others: stop()); returns it."""
        self._stack.callback(_stop_one, thing)
        return thing

    def enter(self, cm):
        """Enter a context manager (harness.namespaces(...), a LinkEmu, ...)
        and leave it at the end; returns what it gives."""
        return self._stack.enter_context(cm)

    def callback(self, fn, *args, **kw):
        """Call fn(*args, **kw) at the end."""
        self._stack.callback(fn, *args, **kw)

    def close(self):
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)


def stop_all(things):
    """Kill the daemons and agents and stop the emulators among things, last
    first: what a fixture runs at the end, whatever state the test left them
    in.  Every one is stopped even if an earlier one fails to stop."""
    with Cleanup() as c:
        for x in things:
            c.add(x)
