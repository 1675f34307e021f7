"""The embedded Celery broker: kombu's filesystem transport, made safe for several processes.

kombu's own transport opens a queue file under its final name and then writes it, so a worker
polling the folder can take the file while it is still empty and die on the JSON it cannot
decode (``Unrecoverable error: JSONDecodeError``); the exchange tables in the control folder are
truncated and rewritten in place, with the same race for readers. Here:

- a message is written under a hidden temporary name in the queue folder and renamed into place,
  so a file with a queue name is always complete;
- a consumer claims a file by renaming it into a ``claimed`` folder beside the queue (one rename
  wins), takes a shared lock on it (a writer that does not rename, such as another version of
  kombu, still holds its exclusive lock while writing) and reads it;
- a file that still cannot be decoded is moved to a ``unreadable`` folder and logged, and the
  worker goes on with the next message instead of stopping;
- exchange tables are rewritten through a temporary file and a rename, under a lock file;
- a file left in ``claimed`` by a consumer killed between claiming and reading it (a window of
  microseconds) goes back to the queue when the next consumer starts, once it is a minute old.

``config/celery.py`` makes ``filesystem://`` use this transport.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from functools import cached_property
from pathlib import Path
from time import monotonic_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

#: Queue files start with this when they are not written yet (kombu only reads "<...>.<queue>.msg").
TEMPORARY_PREFIX = ".writing-"
#: A claimed file this old was claimed by a consumer that died before reading it.
STRANDED_AFTER_SECONDS = 60


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: readers see the old file or the whole new one, never a part."""
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}")
    try:
        with open(temporary, "wb", buffering=0) as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``<path>.lock`` while a table is read, changed and written back."""
    with open(path.with_name(path.name + ".lock"), "ab") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


class Channel(filesystem.Channel):
    @cached_property
    def claimed_folder(self) -> Path:
        folder = Path(self.data_folder_in).parent / "claimed"
        folder.mkdir(parents=True, exist_ok=True)
        self._give_back_stranded(folder)
        return folder

    def _give_back_stranded(self, folder: Path) -> None:
        cutoff = time.time() - STRANDED_AFTER_SECONDS
        for path in folder.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    os.rename(path, Path(self.data_folder_in) / path.name)
                    logger.warning("broker: gave back queue file %s, claimed by a consumer that stopped before "
                                   "reading it", path.name)
            except OSError:
                continue  # another consumer gave it back first

    @property
    def unreadable_folder(self) -> Path:
        folder = Path(self.data_folder_in).parent / "unreadable"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # --- Messages ------------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        # Named by the time it was sent (zero-padded nanoseconds, so that names sort in sending order), then
        # a unique part; kombu reads "<anything>.<queue>.msg".
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        try:
            _write_atomically(Path(self.data_folder_out) / name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory {self.data_folder_out!r}") from exc

    def _get(self, queue):
        # The folder is listed (and sorted, oldest first) once for as many messages as it holds, not once
        # per message: with thousands waiting, listing per message is what made a worker fall behind.
        # Files newer than the listing wait for the next one; those already listed are older.
        folder = Path(self.data_folder_in)
        claimed = self.claimed_folder
        listed = self._listed.get(queue)
        if not listed:
            wanted = f"{queue}.msg"
            listed = self._listed[queue] = collections.deque(
                sorted(n for n in os.listdir(folder) if n.partition(".")[2] == wanted))
        while listed:
            name = listed.popleft()
            path = claimed / name
            try:
                os.rename(folder / name, path)  # only one consumer's rename succeeds
            except OSError:
                continue  # taken by another consumer in the meantime
            payload = self._read_claimed(path)
            if payload is not None:
                return payload
        raise filesystem.Empty()

    @cached_property
    def _listed(self) -> dict[str, collections.deque]:
        return {}

    def _read_claimed(self, path: Path):
        """The message in a claimed file, which is then removed (or kept in processed_folder); None when
        it cannot be decoded: the file goes to the unreadable folder."""
        try:
            with open(path, "rb") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # waits for a writer still holding its lock
                data = f.read()
            message = loads(bytes_to_str(data))
        except (OSError, ValueError) as exc:
            target = self.unreadable_folder / path.name
            with contextlib.suppress(OSError):
                os.replace(path, target)
            logger.error("broker: skipped queue file %s that cannot be read (%s: %s); kept in %s",
                         path.name, exc.__class__.__name__, exc, target.parent)
            return None
        try:
            if self.store_processed:
                os.replace(path, Path(self.processed_folder) / path.name)
            else:
                os.unlink(path)
        except OSError as exc:
            logger.warning("broker: could not clear claimed queue file %s: %s", path.name, exc)
        return message

    # --- Exchange tables (fanout: remote control, broadcasts) -------------------------------

    def _read_table(self, file: Path) -> list:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(data))]
        except (ValueError, TypeError) as exc:
            logger.error("broker: exchange table %s cannot be read (%s); treated as empty", file, exc)
            return []

    def get_table(self, exchange):
        return self._read_table(self._exchange_file(exchange))

    def _change_table(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        try:
            with _locked(file):
                queues = self._read_table(file)
                changed = change(queues)
                if changed is not None:
                    _write_atomically(file, str_to_bytes(json.dumps([list(q) for q in changed])))
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda queues: None if entry in queues else [entry, *queues])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda queues: [q for q in queues if q != entry] if entry in queues else None)


class Transport(filesystem.Transport):
    Channel = Channel
    global_state = filesystem.Transport.global_state
