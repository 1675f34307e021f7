"""A small terminal progress bar: redrawn in place on a terminal, one line per tenth otherwise (logs, CI)."""

from __future__ import annotations

from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO, *, total: int, label: str, width: int = 30):
        self.stream = stream
        self.total = max(total, 0)
        self.label = label
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_tenth = -1
        self._last_text = ""

    def render(self, done: int, detail: str = "") -> str:
        fraction = 1.0 if not self.total else min(1.0, done / self.total)
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"{self.label} [{bar}] {fraction:4.0%} {done}/{self.total}"
        return f"{text} {detail}".rstrip()

    def update(self, done: int, detail: str = "", *, force: bool = False) -> None:
        """Redraw; off a terminal only at each tenth, or when ``force`` (news the reader must see)."""
        text = self.render(done, detail)
        if self.tty:
            padding = " " * max(0, len(self._last_text) - len(text))
            self.stream.write("\r" + text + padding)
            self.stream.flush()
        else:
            tenth = 10 if not self.total else int(10 * min(done, self.total) / self.total)
            if tenth != self._last_tenth or force:
                self.stream.write(text + "\n")
                self.stream.flush()
                self._last_tenth = tenth
        self._last_text = text

    def close(self) -> None:
        if self.tty and self._last_text:
            self.stream.write("\n")
            self.stream.flush()
