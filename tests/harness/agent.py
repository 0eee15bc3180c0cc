"""Application agents: the programs build/fieldrelay-NAME that talk to the
daemon over the application API, started as `fieldrelay-NAME -c CONFIG` with
the node's config file (the agent takes the control socket and its own
[NAME] section from it).

    agent = node.start_agent("echo")                    # on node's config
    agent = harness.start_agent("echo", conf, args=["-v"], ready=lambda a: ...)
    agent.log_text(); agent.running()
    rc = agent.stop()                                   # SIGTERM, its exit status
    harness.run_agent("echo", "--help")                 # a one-shot run

An agent is stopped by stop() (SIGTERM; it is killed, and stop() fails, if it
does not exit within the timeout), or by kill() / its with block / the
`agents` fixture / stop_all() at the end of a test: those kill it if it still
runs, and fail the test if it had exited on its own with an error status or
a signal (a crash, a sanitizer report) unless check_exit=False.
"""
import signal
import subprocess
from pathlib import Path

from .paths import agent_program, wait_for


class Agent:
    def __init__(self, name, config, *, args=(), program=None, netns=None, log=None, env=None,
                 ready=None, timeout=30.0, check_exit=True, start=True):
        self.name = name
        self.config = Path(config)
        self.program = Path(program) if program else agent_program(name)
        self.args = [str(a) for a in args]
        self.netns = netns
        self.log = Path(log) if log else self.config.parent / f"{name}.log"
        self.env = env
        self.check_exit = check_exit
        self.proc = None
        self.logf = None
        self._stopped_by_us = False
        if start:
            self.start(ready=ready, timeout=timeout)

    def command(self):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + [str(self.program), "-c", str(self.config), *self.args]

    def start(self, ready=None, timeout=30.0):
        """Start it (again); with ready, wait until ready(agent) is true, failing
        at once if the agent exits meanwhile."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} still runs"
        if not self.program.exists():
            raise AssertionError(f"{self.program} not built (make tests)")
        if self.logf and not self.logf.closed:
            self.logf.close()
        self.logf = open(self.log, "ab")
        self._stopped_by_us = False
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        if ready is not None:
            try:
                self.wait_for(lambda: ready(self), timeout, f"fieldrelay-{self.name} to be ready")
            except BaseException:
                self._stopped_by_us = True      # the error raised here says why
                self.kill()
                raise
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, pred, timeout=20.0, what="condition"):
        """harness.wait_for, failing at once (with the log) if the agent exits."""
        def check():
            if not self.running():
                raise AssertionError(f"fieldrelay-{self.name} exited with {self.proc.returncode} "
                                     f"while waiting for {what}:\n{self.log_text()}")
            return pred()
        return wait_for(check, timeout, what)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Send sig (SIGTERM) and return the exit status; if it does not exit
        within timeout it is killed and this fails."""
        if self.proc is None:
            return 0
        problem = None
        self._stopped_by_us = True              # the caller has the exit status
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = f"fieldrelay-{self.name} ignored signal {sig} for {timeout}s"
        self.logf.close()
        if problem:
            raise AssertionError(problem + ":\n" + self.log_text())
        return self.proc.returncode

    def kill(self):
        """The end of a test: SIGKILL if it still runs.  Fails if it had
        exited on its own with an error (check_exit)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._stopped_by_us = True
            self.proc.kill()
            self.proc.wait()
        if self.logf and not self.logf.closed:
            self.logf.close()
        rc = self.proc.returncode
        if self.check_exit and not self._stopped_by_us and rc != 0:
            self._stopped_by_us = True          # say it once
            raise AssertionError(f"fieldrelay-{self.name} exited with {rc} during the test:\n"
                                 f"{self.log_text()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def start_agent(name, config, **kw):
    """Start build/fieldrelay-NAME -c CONFIG (an Agent; see Agent for the options)."""
    return Agent(name, config, **kw)


def run_agent(name, *args, config=None, check=True, timeout=60, input=None, env=None):
    """Run fieldrelay-NAME once (with -c CONFIG first when given) and return the
    subprocess.CompletedProcess; with check, a non-zero exit fails."""
    cmd = [str(agent_program(name))] + (["-c", str(config)] if config else []) + [str(a) for a in args]
    r = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"fieldrelay-{name} {' '.join(map(str, args))} -> {r.returncode}\n"
                             f"stdout: {r.stdout[-2000:]!r}\nstderr: {r.stderr[-2000:]!r}")
    return r
