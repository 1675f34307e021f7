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
