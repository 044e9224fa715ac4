"""`serve` supervises its child processes (the projection): a child that ends while `serve`
runs, however it ended (a crash, SIGKILL, the OOM killer), is reaped, logged and started again
after a back-off that doubles up to a minute (reset once a child has run for a minute), and
every restart is counted in `sla_credits_child_restarts_total{child}`."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time

from prometheus_client import Counter

log = logging.getLogger("sla_credits.supervisor")

RESTARTS = Counter("sla_credits_child_restarts", "Child processes of serve started again after they ended", ["child"])


class ChildSupervisor:
    def __init__(
        self,
        name: str,
        command: list[str],
        first_backoff: float = 0.5,
        max_backoff: float = 60.0,
    ) -> None:
        self.name = name
        self.command = command
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)

    def start(self) -> ChildSupervisor:
        self._spawn()
        self._thread.start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if not self._stop.is_set():
                self.process = subprocess.Popen(self.command)  # noqa: S603 (our own command)

    def _run(self) -> None:
        delay = self.first_backoff
        while not self._stop.is_set():
            process = self.process
            assert process is not None
            started = time.monotonic()
            code = process.wait()  # reaps it: no zombie
            if self._stop.is_set():
                return
            if time.monotonic() - started > 60:
                delay = self.first_backoff
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            log.error(
                "the %s process (pid %d) ended with %s; starting it again in %.1fs", self.name, process.pid, how, delay
            )
            RESTARTS.labels(self.name).inc()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff)
            self._spawn()

    def stop(self, timeout: float = 10) -> None:
        stop_all([self], timeout)

    def _terminate(self) -> subprocess.Popen[bytes] | None:
        """No more restarts; ask the child to end (SIGTERM). Answers it if it is still running."""
        with self._lock:
            self._stop.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            return process
        return None


def stop_all(supervisors: list[ChildSupervisor], timeout: float = 10) -> None:
    """Ask every child to end at once, then wait for them together (at most `timeout` seconds in
    all, then SIGKILL): stopping `serve` takes the slowest child's time, not the sum."""
    running = [p for p in (s._terminate() for s in supervisors) if p is not None]
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
