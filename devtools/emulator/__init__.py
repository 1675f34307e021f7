"""A local emulator of TeleSign's SMS API and Twilio's Messaging API (plain asyncio/aiohttp, no Django).

See docs/emulator.md. Typical use in tests::

    from devtools.emulator import ProviderEmulator

    with ProviderEmulator(twilio_accounts=[(sid, token)]) as emulator:
        settings.TWILIO_API_URL = emulator.url
        ...
"""

from .common import InjectError
from .config import ConfigError, EmulatorConfig
from .server import ProviderEmulator

__all__ = ["ConfigError", "EmulatorConfig", "InjectError", "ProviderEmulator"]
