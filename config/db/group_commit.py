"""Group commit: rows that threads of one process want stored at the same moment, written by one
statement and one commit.

A thread hands its item to ``GroupCommit.submit`` and gets its result back once the write that
held it has returned (committed, when the connection is in autocommit mode). Nobody waits on a
timer: the first thread to arrive writes at once, alone; the threads that arrive while a write is
under way queue up, and the first of them writes all that queued, in one go, when the current
write is over. So a lone request is written as before, and under load each write carries the
requests that arrived during the previous one.

The write runs on the connection of the thread that leads it. It must be atomic (one statement in
autocommit mode, or a transaction): a write that raises stored none of its items; each thread then
writes its own item again, alone and on its own connection, so that an item the database refuses (or
a leader's broken connection) fails that thread only. A thread whose item could not be written gets an
exception: nobody is told an item was stored that is not. A thread that waits longer than
``wait_seconds`` for a write (the database stalled) gives up with ``GroupCommitFailed``: its item may
still be committed by the write under way, which the caller's retry then finds already stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitFailed(Exception):
    """The write that held this thread's item failed (the leading thread raised the cause)."""


class _Slot(Generic[T, R]):
    __slots__ = ("alone", "done", "error", "item", "ready", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.alone = False  # the group's write failed: the thread writes its item again itself
        self.result: R | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()


class GroupCommit(Generic[T, R]):
    """``write(items)`` stores the items atomically and returns one result per item, in their order;
    at most ``max_items`` (from ``max_items()`` when callable: a setting read per write) go in one write."""

    def __init__(self, write: Callable[[Sequence[T]], Sequence[R]], *, max_items: int | Callable[[], int],
                 wait_seconds: float | Callable[[], float] = 20.0) -> None:
        self._write = write
        self._max_items = max_items if callable(max_items) else (lambda: max_items)
        self._wait_seconds = wait_seconds if callable(wait_seconds) else (lambda: wait_seconds)
        self._lock = threading.Lock()
        self._pending: list[_Slot[T, R]] = []
        self._busy = False  # a thread is writing, or has been handed the next write

    def submit(self, item: T, *, alone: bool = False) -> R:
        """Store ``item`` (with whatever else is waiting) and return its result.

        ``alone``: write it by itself, now, on this thread's connection — for a caller inside a
        transaction, whose rows another thread's connection must not write (it could not see the rows
        they refer to, and its commit would not be the caller's).
        """
        if alone or self._max_items() <= 1:
            return self._write([item])[0]
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead and not slot.ready.wait(self._wait_seconds()):
            with self._lock:
                if not slot.ready.is_set():  # not handed the next write, not written: give up
                    if slot in self._pending:
                        self._pending.remove(slot)
                    raise GroupCommitFailed("the database did not store this webhook in time")
        if not lead and not slot.done:
            lead = True  # handed the next write, which holds this thread's item first
        if lead:
            self._lead(slot)
        if slot.alone:
            return self._write([slot.item])[0]
        if slot.error is not None:
            if lead:
                raise slot.error
            raise GroupCommitFailed("the write this webhook was grouped into failed") from slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, own: _Slot[T, R]) -> None:
        with self._lock:
            size = max(1, self._max_items())
            batch = self._pending[:size]
            del self._pending[:size]
        try:
            self._write_batch(batch)
        finally:
            for slot in batch:
                slot.done = True
                if slot is not own:
                    slot.ready.set()
            with self._lock:
                if self._pending:
                    # Hand the next write to the first thread waiting: each thread leads at most one
                    # write, and answers its own request as soon as its item is stored.
                    self._pending[0].ready.set()
                else:
                    self._busy = False

    def _write_batch(self, batch: list[_Slot[T, R]]) -> None:
        try:
            results = self._write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"group write returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # The write stored none of them: each thread writes its own again, alone, on its own connection,
            # so that an item the database refuses fails its own request only.
            for slot in batch:
                slot.alone = True
            return
        except BaseException as exc:  # the process is stopping: nobody is told their item was stored
            for slot in batch:
                slot.error = exc
            raise
        for slot, result in zip(batch, results, strict=True):
            slot.result = result
