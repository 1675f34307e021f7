"""Group commit: items of threads arriving during a write are written together by the next one."""

from __future__ import annotations

import threading
import time

import pytest

from config.db.group_commit import GroupCommit, GroupCommitFailed


class Store:
    """A write that records each call; the first call waits until ``release`` (so that others queue)."""

    def __init__(self, *, refuse=(), fail_groups=False):
        self.writes: list[list[str]] = []
        self.writers: list[str] = []  # the thread that made each write
        self.stored: list[str] = []
        self.release = threading.Event()
        self.refuse = set(refuse)
        self.fail_groups = fail_groups

    def __call__(self, items):
        items = list(items)
        self.writes.append(items)
        self.writers.append(threading.current_thread().name)
        if len(self.writes) == 1:
            assert self.release.wait(5)
        if self.fail_groups and len(items) > 1:
            raise RuntimeError("connection lost")
        if self.refuse & set(items):
            raise ValueError(f"refused: {sorted(self.refuse & set(items))}")
        self.stored.extend(items)
        return [f"id-{item}" for item in items]


def submit_in_threads(group, items):
    """Submit each item from its own thread; returns {item: result or exception}."""
    outcomes: dict[str, object] = {}

    def run(item):
        try:
            outcomes[item] = group.submit(item)
        except Exception as exc:
            outcomes[item] = exc

    threads = [threading.Thread(target=run, args=(item,), name=f"thread-{item}") for item in items]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    return threads, outcomes


def wait_queued(group, count):
    deadline = time.monotonic() + 5
    while len(group._pending) < count:
        assert time.monotonic() < deadline, "threads did not queue"
        time.sleep(0.005)


def finish(threads):
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def test_a_lone_item_is_written_at_once_by_itself():
    store = Store()
    store.release.set()
    group = GroupCommit(store, max_items=32)
    assert group.submit("a") == "id-a"
    assert store.writes == [["a"]]


def test_items_arriving_during_a_write_share_the_next_one():
    store = Store()
    group = GroupCommit(store, max_items=32)
    threads, outcomes = submit_in_threads(group, ["first"])
    deadline = time.monotonic() + 5
    while not store.writes:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    more, more_outcomes = submit_in_threads(group, ["b", "c", "d"])
    wait_queued(group, 3)
    store.release.set()
    finish(threads + more)
    assert store.writes == [["first"], ["b", "c", "d"]]
    assert {**outcomes, **more_outcomes} == {"first": "id-first", "b": "id-b", "c": "id-c", "d": "id-d"}


def test_a_write_holds_at_most_max_items():
    store = Store()
    group = GroupCommit(store, max_items=2)
    threads, outcomes = submit_in_threads(group, ["first"])
    while not store.writes:
        time.sleep(0.005)
    more, more_outcomes = submit_in_threads(group, ["b", "c", "d"])
    wait_queued(group, 3)
    store.release.set()
    finish(threads + more)
    assert store.writes == [["first"], ["b", "c"], ["d"]]
    assert sorted(store.stored) == ["b", "c", "d", "first"]
    assert set({**outcomes, **more_outcomes}.values()) == {"id-first", "id-b", "id-c", "id-d"}


def test_when_the_database_is_gone_every_thread_of_the_group_fails_and_nothing_is_stored():
    store = Store(refuse={"b", "c", "d"}, fail_groups=True)
    group = GroupCommit(store, max_items=32)
    threads, _ = submit_in_threads(group, ["first"])
    while not store.writes:
        time.sleep(0.005)
    more, outcomes = submit_in_threads(group, ["b", "c", "d"])
    wait_queued(group, 3)
    store.release.set()
    finish(threads + more)
    # The thread leading the write raises the database's error, the others GroupCommitFailed from it.
    assert all(isinstance(outcome, Exception) for outcome in outcomes.values()), outcomes
    assert store.stored == ["first"]
    # The group is free again: the next item is written.
    assert group.submit("e") == "id-e"


def test_an_item_the_database_refuses_fails_only_its_own_thread():
    store = Store(refuse={"c"})
    group = GroupCommit(store, max_items=32)
    threads, _ = submit_in_threads(group, ["first"])
    while not store.writes:
        time.sleep(0.005)
    more, outcomes = submit_in_threads(group, ["b", "c", "d"])
    wait_queued(group, 3)
    store.release.set()
    finish(threads + more)
    assert outcomes["b"] == "id-b" and outcomes["d"] == "id-d"
    assert isinstance(outcomes["c"], ValueError) and "refused" in str(outcomes["c"])
    assert sorted(store.stored) == ["b", "d", "first"]  # each once: the failed group stored nothing
    # After the failed group, each thread wrote its own item again itself (on its own database connection).
    assert list(zip(store.writes[2:], store.writers[2:])) and all(
        writer == f"thread-{items[0]}" for items, writer in zip(store.writes[2:], store.writers[2:]))


def test_alone_bypasses_the_group_and_its_errors_are_the_write_s_own():
    store = Store(refuse={"x"})
    store.release.set()
    group = GroupCommit(store, max_items=32)
    with pytest.raises(ValueError, match="refused"):
        group.submit("x", alone=True)
    assert group.submit("y", alone=True) == "id-y"
    assert store.writes == [["x"], ["y"]]


def test_a_maximum_of_one_writes_each_item_alone():
    store = Store()
    store.release.set()
    group = GroupCommit(store, max_items=lambda: 1)
    assert [group.submit("a"), group.submit("b")] == ["id-a", "id-b"]
    assert store.writes == [["a"], ["b"]]


def test_a_thread_waiting_on_a_stalled_write_gives_up_and_the_group_goes_on():
    store = Store()
    group = GroupCommit(store, max_items=32, wait_seconds=0.2)
    threads, outcomes = submit_in_threads(group, ["first"])  # its write stalls until released
    while not store.writes:
        time.sleep(0.005)
    more, more_outcomes = submit_in_threads(group, ["b"])
    finish(more)  # b gave up waiting, without being told it was stored
    assert isinstance(more_outcomes["b"], GroupCommitFailed) and "in time" in str(more_outcomes["b"])
    assert group._pending == []
    store.release.set()
    finish(threads)
    assert outcomes == {"first": "id-first"} and store.stored == ["first"]
    assert group.submit("c") == "id-c"  # nobody is left holding the next write
