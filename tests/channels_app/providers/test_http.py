from channels_app.models import ChannelLog
from channels_app.providers.http import channel_log_buffered, session_for, write_log


def test_buffered_channel_log_rows_are_written_together_at_the_end(sandbox_account, django_assert_num_queries):
    with channel_log_buffered():
        write_log(sandbox_account, kind="send", method="POST", url="sandbox://1", status_code=200)
        write_log(sandbox_account, kind="send", method="POST", url="sandbox://2", status_code=200)
        assert ChannelLog.objects.count() == 0
    assert sorted(ChannelLog.objects.values_list("url", flat=True)) == ["sandbox://1", "sandbox://2"]


def test_provider_sessions_use_only_the_configured_proxy(sandbox_account, settings):
    session = session_for(sandbox_account)
    assert session.trust_env is False and not session.proxies
    settings.PROVIDER_HTTPS_PROXY = "http://proxy.internal:3128"
    sandbox_account.credentials_updated_at = sandbox_account.updated_at  # a fresh session
    assert session_for(sandbox_account).proxies == {"https": "http://proxy.internal:3128",
                                                    "http": "http://proxy.internal:3128"}


def test_a_provider_request_carries_the_session_headers_and_basic_auth(sandbox_account, mocked_http):
    import base64

    from channels_app.providers.http import provider_request

    mocked_http.add("POST", "https://api.example.com/send", json={"ok": True}, status=201)
    response = provider_request(sandbox_account, kind="send", method="POST", url="https://api.example.com/send",
                                data={"To": "+15551234567", "Body": "hi there"}, auth=("user", "secret"))
    assert response.status_code == 201 and response.json() == {"ok": True}
    sent = mocked_http.calls[0].request
    assert sent.headers["User-Agent"] == "messaging-hub/1"
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()
    assert sent.body == "To=%2B15551234567&Body=hi+there"
    log = ChannelLog.objects.get()
    assert log.status_code == 201 and "secret" not in str(log.request_headers)


def test_a_provider_redirect_is_not_followed(sandbox_account, mocked_http):
    from channels_app.providers.http import provider_request

    mocked_http.add("POST", "https://api.example.com/send", status=302, headers={"Location": "https://elsewhere/"})
    response = provider_request(sandbox_account, kind="send", method="POST", url="https://api.example.com/send",
                                data={"To": "+15551234567"})
    assert response.status_code == 302
    assert len(mocked_http.calls) == 1  # nothing was sent to the other host


def test_provider_requests_go_through_the_configured_proxy(sandbox_account, settings, monkeypatch):
    import requests

    from channels_app.providers.http import provider_request

    settings.PROVIDER_HTTPS_PROXY = "http://proxy.internal:3128"
    seen = {}

    def send(adapter, request, **kwargs):
        seen.update(kwargs)
        response = requests.Response()
        response.status_code, response._content, response.request = 200, b"{}", request
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    provider_request(sandbox_account, kind="send", method="POST", url="https://api.example.com/send", data={})
    assert seen["proxies"] == {"https": "http://proxy.internal:3128", "http": "http://proxy.internal:3128"}
    assert seen["verify"] is True
