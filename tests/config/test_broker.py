"""The embedded broker (config/broker.py): a queue file being written is never taken, a file that cannot be
read is set aside instead of stopping the worker, each message goes to one consumer only, and exchange
tables are never seen half-written."""

import fcntl
import logging
import os
import threading
import time

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import virtual

import config.celery  # noqa: F401  (makes filesystem:// use config.broker)
from config.broker import TEMPORARY_PREFIX, Transport


@pytest.fixture
def folders(tmp_path, monkeypatch):
    # The transport remembers declared queues and bindings per process; each test has folders of its own.
    monkeypatch.setattr(Transport, "global_state", virtual.BrokerState())
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    return tmp_path


def connect(folders):
    return Connection("filesystem://", transport_options={
        "data_folder_in": str(folders / "queue"), "data_folder_out": str(folders / "queue"),
        "processed_folder": str(folders / "processed"), "control_folder": str(folders / "control"),
        "store_processed": False, "polling_interval": 0.01})


def test_filesystem_urls_use_the_safe_transport(folders):
    with connect(folders) as conn:
        assert isinstance(conn.transport, Transport)


def test_a_message_is_written_under_a_temporary_name_and_renamed_into_place(folders, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(src), os.path.basename(dst), sorted(os.listdir(folders / "queue"))))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with connect(folders) as conn:
        conn.SimpleQueue("jobs").put({"n": 1})
    src, dst, listing = seen[-1]
    assert src.startswith(TEMPORARY_PREFIX) and dst.endswith(".jobs.msg")
    # While it was being written, nothing in the folder had a queue name.
    assert [name for name in listing if name.endswith(".msg")] == []


def test_a_file_still_being_written_by_another_producer_is_read_whole(folders):
    with connect(folders) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"n": 2})
        [name] = [n for n in os.listdir(folders / "queue") if n.endswith(".jobs.msg")]
        data = (folders / "queue" / name).read_bytes()
        os.unlink(folders / "queue" / name)
        # A producer that writes in place (kombu's own transport) holds an exclusive lock while it writes.
        with open(folders / "queue" / name, "wb", buffering=0) as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            f.write(data[:10])
            received = {}
            reader = threading.Thread(target=lambda: received.setdefault("m", queue.get(timeout=5)))
            reader.start()
            reader.join(0.5)
            assert reader.is_alive(), "the consumer read a file whose writer still held its lock"
            f.write(data[10:])
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        reader.join(5)
        assert received["m"].payload == {"n": 2}


def test_an_unreadable_file_is_set_aside_and_the_next_message_delivered(folders, caplog):
    (folders / "queue" / "00000000000000000000_broken.jobs.msg").write_text("")  # empty: what crashed workers
    with connect(folders) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"n": 1})
        with caplog.at_level(logging.ERROR, logger="config.broker"):
            message = queue.get(timeout=2)
    assert message.payload == {"n": 1}
    assert (folders / "unreadable" / "00000000000000000000_broken.jobs.msg").exists()
    assert "cannot be read" in caplog.text and "00000000000000000000_broken.jobs.msg" in caplog.text


def test_two_consumers_never_get_the_same_message(folders):
    with connect(folders) as producer:
        queue = producer.SimpleQueue("jobs")
        for n in range(300):
            queue.put({"n": n})
    got: list[int] = []
    lock = threading.Lock()

    def consume():
        with connect(folders) as conn:
            q = conn.SimpleQueue("jobs")
            while True:
                try:
                    message = q.get(timeout=0.5)
                except q.Empty:
                    return
                with lock:
                    got.append(message.payload["n"])
                message.ack()

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == list(range(300))


def test_messages_keep_their_order_within_a_listing(folders):
    with connect(folders) as conn:
        queue = conn.SimpleQueue("jobs")
        for n in range(5):
            queue.put({"n": n})
        assert [queue.get(timeout=1).payload["n"] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_a_fanout_exchange_reaches_every_bound_queue_and_its_table_is_written_whole(folders):
    exchange = Exchange("broadcast", type="fanout")
    with connect(folders) as conn:
        channel = conn.default_channel
        for name in ("a", "b"):
            Queue(name, exchange=exchange, routing_key=name)(channel).declare()
        table = (folders / "control" / "broadcast.exchange").read_text()
        assert '"a"' in table and '"b"' in table
        producer = conn.Producer(channel)
        producer.publish({"hello": 1}, exchange=exchange, routing_key="")
        assert conn.SimpleQueue("a").get(timeout=1).payload == {"hello": 1}
        assert conn.SimpleQueue("b").get(timeout=1).payload == {"hello": 1}
        leftovers = [n for n in os.listdir(folders / "control") if n.startswith(TEMPORARY_PREFIX)]
        assert leftovers == []


def test_an_unreadable_exchange_table_is_treated_as_empty(folders, caplog):
    (folders / "control" / "broadcast.exchange").write_text("")
    with connect(folders) as conn, caplog.at_level(logging.ERROR, logger="config.broker"):
        assert conn.default_channel.get_table("broadcast") == []
    assert "exchange table" in caplog.text


def test_a_file_claimed_by_a_consumer_that_died_before_reading_it_goes_back_to_the_queue(folders, caplog):
    with connect(folders) as conn:
        conn.SimpleQueue("jobs").put({"n": 9})
    [name] = [n for n in os.listdir(folders / "queue") if n.endswith(".jobs.msg")]
    (folders / "claimed").mkdir()
    os.rename(folders / "queue" / name, folders / "claimed" / name)  # claimed, then the consumer was killed
    old = time.time() - 120
    os.utime(folders / "claimed" / name, (old, old))
    with connect(folders) as conn, caplog.at_level(logging.WARNING, logger="config.broker"):
        assert conn.SimpleQueue("jobs").get(timeout=2).payload == {"n": 9}
    assert "gave back queue file" in caplog.text
