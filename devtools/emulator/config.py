"""Run-time settings of the emulator: latency, failure rates, callback timing, record caps.

Every field can be given at start (command-line flags, ``EmulatorConfig(...)``) and changed while
the emulator runs with ``POST /_emulator/config`` (only the fields sent change).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

TIMEOUT_MODES = ("hold", "close", "accept_then_hold")
WHATSAPP_WINDOW_MODES = ("async", "reject", "off")


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the field."""


@dataclass
class EmulatorConfig:
    # Latency added to every provider API request (not to the control API).
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Failure rates, each 0..1, drawn once per provider API request (their sum must be <= 1).
    fail_5xx: float = 0.0
    fail_timeout: float = 0.0
    fail_429: float = 0.0
    #: hold: keep the request open ``timeout_hold_ms`` then close the connection without an answer;
    #: close: close the connection at once; accept_then_hold: process the request (a send is
    #: accepted and its callbacks follow) but never answer — the client cannot know it went out.
    timeout_mode: str = "hold"
    timeout_hold_ms: float = 20_000.0
    retry_after_s: int = 1
    #: Seed of the random draws (failures, jitter, delivery failures); None = unseeded.
    seed: int | None = None

    # Delivery: time between status steps (Twilio queued→sent→delivered[→read]; TeleSign 290→200).
    callback_delay_ms: float = 100.0
    #: Share of sends that end undelivered (Twilio undelivered/30003, TeleSign 207).
    fail_delivery: float = 0.0
    #: Recipients whose messages always end undelivered.
    undeliverable_numbers: list[str] = field(default_factory=list)
    #: WhatsApp: also send a ``read`` status after ``delivered``.
    whatsapp_read: bool = False
    #: WhatsApp free text outside the 24-hour window: async = accepted (201) then failed with
    #: ErrorCode 63016 in the status callback, as Twilio does; reject = 400 with code 63016;
    #: off = no check.
    whatsapp_window: str = "async"
    whatsapp_window_hours: float = 24.0

    # Callbacks the emulator sends.
    callback_timeout_s: float = 15.0
    #: Waits before each retry of a callback the receiver did not answer with 2xx (TeleSign: 200).
    telesign_callback_retry_ms: list[float] = field(default_factory=lambda: [10_000.0, 30_000.0])
    twilio_callback_retry_ms: list[float] = field(default_factory=list)
    #: Fixed at start: concurrent callback requests and the most callbacks waiting to be sent.
    callback_concurrency: int = 64
    callback_queue_max: int = 100_000

    #: Waits before each retry of an Event Grid delivery (ACS) the receiver did not answer with 200–204.
    acs_callback_retry_ms: list[float] = field(default_factory=lambda: [10_000.0, 30_000.0, 60_000.0])
    #: Event Grid subscriptions deliver up to this many events in one request (1: one event per request).
    acs_max_events_per_batch: int = 1

    # TeleSign request authentication.
    telesign_date_window_s: float = 900.0
    telesign_nonce_cache: int = 200_000
    # ACS request authentication: how far x-ms-date may be from the emulator's clock.
    acs_date_window_s: float = 900.0

    # Media and URLs.
    #: Base URL the emulator is reached at (media URLs, resource URIs). Default: http://host:port.
    public_url: str | None = None
    #: Twilio media URLs answer 307 to a pre-signed URL, as Twilio does; false serves the bytes directly.
    media_redirect: bool = True

    # Records kept for the control API (counters are always kept).
    max_records: int = 10_000
    max_messages: int = 100_000
    max_callbacks: int = 10_000
    max_media: int = 1_000
    #: Seconds added to the emulator's clock (e.g. 90000 to step past the WhatsApp window).
    clock_offset_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, values: dict[str, Any]) -> list[str]:
        """Validate and apply ``values`` (all or nothing); returns the names that changed."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        candidate = EmulatorConfig(**{**self.as_dict(), **values})
        candidate.validate()
        for name in values:
            setattr(self, name, getattr(candidate, name))
        return sorted(values)

    def validate(self) -> None:
        def number(name: str, low: float = 0.0, high: float | None = None, integer: bool = False) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if integer and int(value) != value:
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            if value < low or (high is not None and value > high):
                raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}" if high is not None
                                  else f"{name} must be at least {low}, got {value!r}")

        for name in ("latency_ms", "latency_jitter_ms", "timeout_hold_ms", "callback_delay_ms", "clock_offset_s"):
            number(name, low=-1e12 if name == "clock_offset_s" else 0.0)
        for name in ("fail_5xx", "fail_timeout", "fail_429", "fail_delivery"):
            number(name, 0.0, 1.0)
        if self.fail_5xx + self.fail_timeout + self.fail_429 > 1.0 + 1e-9:
            raise ConfigError("fail_5xx + fail_timeout + fail_429 must not exceed 1")
        number("retry_after_s", integer=True)
        number("callback_timeout_s", low=0.001)
        number("whatsapp_window_hours")
        number("telesign_date_window_s")
        number("acs_date_window_s")
        for name in ("callback_concurrency", "callback_queue_max", "telesign_nonce_cache", "max_records",
                     "max_messages", "max_callbacks", "max_media", "acs_max_events_per_batch"):
            number(name, low=1, integer=True)
        if self.timeout_mode not in TIMEOUT_MODES:
            raise ConfigError(f"timeout_mode must be one of {', '.join(TIMEOUT_MODES)}, got {self.timeout_mode!r}")
        if self.whatsapp_window not in WHATSAPP_WINDOW_MODES:
            raise ConfigError(f"whatsapp_window must be one of {', '.join(WHATSAPP_WINDOW_MODES)}, "
                              f"got {self.whatsapp_window!r}")
        for name in ("whatsapp_read", "media_redirect"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError(f"seed must be a whole number or null, got {self.seed!r}")
        for name in ("telesign_callback_retry_ms", "twilio_callback_retry_ms", "acs_callback_retry_ms"):
            value = getattr(self, name)
            if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0
                                                  for v in value):
                raise ConfigError(f"{name} must be a list of milliseconds, got {value!r}")
        if not isinstance(self.undeliverable_numbers, list) or not all(
                isinstance(v, str) for v in self.undeliverable_numbers):
            raise ConfigError("undeliverable_numbers must be a list of phone numbers")
        if self.public_url is not None and not (isinstance(self.public_url, str)
                                                and self.public_url.startswith(("http://", "https://"))):
            raise ConfigError(f"public_url must be an http(s) URL, got {self.public_url!r}")
