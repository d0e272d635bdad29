"""The simulator's clock: one timer thread hands due tasks to a few sender threads."""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable

import requests

from .protocol import CALLBACK_TIMEOUT

#: A task runs on a sender thread, with that thread's keep-alive session.
Task = Callable[[requests.Session], None]


class Scheduler:
    """One timer thread feeding due tasks to a small pool of sender threads."""

    def __init__(self, workers: int) -> None:
        """Prepare the heap and the pool; nothing runs before start()."""
        self._workers = max(1, workers)
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def start(self) -> None:
        """Start the timer thread and the sender threads."""
        self._threads.append(
            threading.Thread(target=self._run_timer, name="esms-sim-timer", daemon=True)
        )
        for index in range(self._workers):
            name = f"esms-sim-sender-{index}"
            self._threads.append(threading.Thread(target=self._run_sender, name=name, daemon=True))
        for thread in self._threads:
            thread.start()

    def schedule(self, due: float, task: Task) -> None:
        """Run task on a sender thread once time.monotonic() reaches due."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (due, next(self._seq), task))
            if self._heap[0][2] is task:
                self._cond.notify()

    def clear(self) -> None:
        """Forget every task not yet due."""
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        """Stop the threads and wait for them."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        for _ in range(self._workers):
            self._queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(CALLBACK_TIMEOUT + 1)

    def _run_timer(self) -> None:
        """Move due tasks from the heap to the senders' queue."""
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                self._queue.put(heapq.heappop(self._heap)[2])

    def _run_sender(self) -> None:
        """Run queued tasks with this thread's own keep-alive session."""
        with requests.Session() as session:
            while (task := self._queue.get()) is not None:
                task(session)
