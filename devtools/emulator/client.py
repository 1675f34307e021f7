"""A small synchronous client for the emulator's control API (for scripts, end-to-end tests, benchmarks)."""

from __future__ import annotations

from typing import Any

import requests


class EmulatorClientError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class EmulatorClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
              timeout: float | None = None) -> Any:
        response = self.session.request(method, f"{self.base_url}/_emulator/{path}", json=json,
                                        params={k: v for k, v in (params or {}).items() if v is not None},
                                        timeout=timeout or self.timeout)
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text}
        if response.status_code >= 400:
            raise EmulatorClientError(response.status_code, data.get("error", response.text)
                                      if isinstance(data, dict) else response.text)
        return data

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def config(self, **values: Any) -> dict[str, Any]:
        """Change settings (``fail_5xx=0.1``…); with no arguments, read them."""
        return self._call("POST", "config", json=values) if values else self._call("GET", "config")

    def add_twilio_account(self, sid: str, auth_token: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"provider": "twilio", "sid": sid, **extra}
        if auth_token is not None:
            body["auth_token"] = auth_token
        return self._call("POST", "accounts", json=body)

    def add_telesign_account(self, customer_id: str, api_key: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"provider": "telesign", "customer_id": customer_id, **extra}
        if api_key is not None:
            body["api_key"] = api_key
        return self._call("POST", "accounts", json=body)

    def set_twilio_inbound_url(self, number: str, url: str | None, account: str | None = None) -> dict[str, Any]:
        return self._call("POST", "webhooks", json={"provider": "twilio", "number": number, "url": url,
                                                    "account": account})

    def set_telesign_callback_url(self, customer_id: str, url: str | None) -> dict[str, Any]:
        return self._call("POST", "webhooks", json={"provider": "telesign", "customer_id": customer_id, "url": url})

    def inject_inbound(self, *, provider: str, from_: str, to: str, body: str = "", account: str | None = None,
                       media: list[Any] | None = None, profile_name: str | None = None, channel: str | None = None,
                       url: str | None = None, wait: bool = True, external_user_id: str | None = None,
                       button_text: str | None = None, button_payload: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"provider": provider, "from": from_, "to": to, "body": body, "wait": wait}
        for key, value in (("account", account), ("media", media), ("profile_name", profile_name),
                           ("channel", channel), ("url", url), ("external_user_id", external_user_id),
                           ("button_text", button_text), ("button_payload", button_payload)):
            if value is not None:
                spec[key] = value
        return self._call("POST", "inbound", json=spec)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "requests", params=filters)["items"]

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "messages", params=filters)["items"]

    def message(self, message_id: str) -> dict[str, Any]:
        return self._call("GET", f"messages/{message_id}")

    def callbacks(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "callbacks", params=filters)["items"]

    def opt_outs(self) -> dict[str, Any]:
        return self._call("GET", "optouts")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self._call("GET", "idle", params={"timeout": timeout}, timeout=timeout + 10)["idle"]

    def reset(self, *, accounts: bool = False) -> None:
        self._call("POST", "reset", json={"accounts": accounts})
