import io
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_app.providers import sandbox
from outbound.models import BatchState, OutboundBatch, OutboundRequest
from outbound.services.ratelimit import RateLimited


def _csv(tmp_path, n, *, extra=""):
    path = tmp_path / "contacts.csv"
    rows = [f"+1555{i:07d},SMS,true,Customer {i},Case {i}" for i in range(n)]
    path.write_text("tocontactid,channelid,optin,CustomerName,CaseName\n" + "\n".join(rows) + "\n" + extra)
    return path


def _run(*args):
    out = io.StringIO()
    call_command("send_outbound", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def eager_sends(transactional_db):
    """Real commits: each request's task runs (eagerly) as its transaction commits, as a worker would."""


def test_a_list_is_sent_in_requests_of_100_with_progress_bars(tmp_path, sandbox_config, eager_sends):
    output = _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 250)),
                  "--poll", "0", "--timeout", "30")
    assert OutboundRequest.objects.count() == 3
    assert len(sandbox.outbox) == 250
    assert "Submitting [##############################] 100% 250/250" in output
    assert "Sending    [##############################] 100% 250/250 sent 250" in output
    assert output.strip().endswith("250 contacts in 3 request(s): 250 sent, 0 delivered, 0 failed, 0 skipped, "
                                   "0 pending.")
    assert OutboundBatch.objects.get().state == BatchState.SUBMITTED


def test_a_dry_run_checks_and_sends_nothing(tmp_path, sandbox_config):
    output = _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 150)),
                  "--dry-run")
    assert "150 contacts are valid" in output and "2 request(s)" in output
    assert not OutboundBatch.objects.exists()


def test_a_dry_run_counts_requests_with_the_configured_size(tmp_path, sandbox_config, settings):
    settings.OUTBOUND_MAX_CONTACTS_PER_REQUEST = 40
    output = _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 150)),
                  "--dry-run")
    assert "150 contacts are valid" in output and "4 request(s)" in output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "Give --configuration"),
        (["--configuration", "nope", "--csv", "x.csv"], "--configuration must be an outbound configuration ID"),
        (["--configuration", "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "--csv", "x.csv"],
         "No outbound configuration has the ID"),
        (["--configuration", "CONFIG", "--csv", "/nonexistent/contacts.csv"], "Cannot read /nonexistent/contacts.csv"),
        (["--configuration", "CONFIG", "--csv", "BAD"], "line 3, column optin must be true or false"),
        (["--resume", "999"], "No batch #999"),
    ],
)
def test_bad_input_is_a_clear_error_with_a_non_zero_exit(tmp_path, sandbox_config, args, words):
    bad = tmp_path / "bad.csv"
    bad.write_text("tocontactid,channelid,optin\n+15550000001,SMS,true\n+15550000002,SMS,sometimes\n")
    args = [str(sandbox_config.configuration_id) if a == "CONFIG" else str(bad) if a == "BAD" else a for a in args]
    with pytest.raises(CommandError) as err:
        _run(*args)
    assert words in str(err.value)
    assert not OutboundBatch.objects.exists()


def test_at_the_hourly_limit_the_command_waits_and_goes_on(tmp_path, sandbox_config, eager_sends):
    from outbound.services import requests as requests_service

    real = requests_service.ratelimit.requests_admit
    answers = iter([None, RateLimited("limit", retry_after=2, limit=1), None])

    def admit(**kw):
        answer = next(answers)
        if answer is not None:
            raise answer
        return real(**kw)

    with mock.patch.object(requests_service.ratelimit, "requests_admit", side_effect=admit), \
            mock.patch("outbound.management.commands.send_outbound.time.sleep") as sleep:
        output = _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 200)),
                      "--poll", "0", "--timeout", "30")
    sleep.assert_any_call(2)
    assert "hourly limit reached; next request in 2s" in output
    assert OutboundRequest.objects.count() == 2 and len(sandbox.outbox) == 200


def test_ctrl_c_stops_and_resume_continues_without_sending_twice(tmp_path, sandbox_config, eager_sends):
    from outbound.services import batches

    real = batches.outbound_batch_submit_next
    calls = {"n": 0}

    def interrupted(**kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(**kw)

    with mock.patch("outbound.management.commands.send_outbound.outbound_batch_submit_next", interrupted), \
            pytest.raises(CommandError) as err:
        _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 250)))
    batch = OutboundBatch.objects.get()
    assert err.value.returncode == 130
    assert f"--resume {batch.pk}" in str(err.value) and "100 of 250" in str(err.value)
    assert batch.state == BatchState.STOPPED

    _run("--resume", str(batch.pk), "--poll", "0", "--timeout", "30")
    assert sorted(m["to"] for m in sandbox.outbox) == sorted(f"+1555{i:07d}" for i in range(250))
    assert OutboundRequest.objects.count() == 3


def test_following_gives_up_after_the_timeout_with_exit_code_3(tmp_path, sandbox_config):
    with pytest.raises(CommandError) as err:
        _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 5)),
             "--timeout", "0.2", "--poll", "0.05")
    assert err.value.returncode == 3
    assert "5 contacts still pending" in str(err.value)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real-run"])
def test_a_nul_in_the_csv_is_refused_before_anything_is_sent(tmp_path, sandbox_config, dry_run):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"tocontactid,channelid,optin,CustomerName\n+15550000001,SMS,true,Ana\x00Lee\n")
    args = ["--configuration", str(sandbox_config.configuration_id), "--csv", str(path), "--poll", "0"]
    with pytest.raises(CommandError) as err:
        _run(*args, *(["--dry-run"] if dry_run else []))
    assert "Line 2" in str(err.value) and "NUL" in str(err.value)
    assert not OutboundBatch.objects.exists() and sandbox.outbox == []


@pytest.mark.parametrize("value", ["-5", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(tmp_path, sandbox_config, value):
    with pytest.raises(CommandError) as err:
        _run("--configuration", str(sandbox_config.configuration_id), "--csv", str(_csv(tmp_path, 1)),
             "--timeout", value)
    assert "--timeout" in str(err.value)
    assert not OutboundBatch.objects.exists()
