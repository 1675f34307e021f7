"""manage.py run_provider_emulator and emulator_inbound."""

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from devtools.management.commands.run_provider_emulator import Command as RunCommand
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[3]


def test_run_provider_emulator_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_provider_emulator", "--port", "0",
         "--twilio-account", f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}",
         "--telesign-account", f"{TELESIGN_CUSTOMER_ID}:{TELESIGN_API_KEY}",
         "--telesign-callback-url", f"{TELESIGN_CUSTOMER_ID}=http://127.0.0.1:9/cb",
         "--twilio-inbound-url", "whatsapp:+14155238886=http://127.0.0.1:9/in?a=b",
         "--fail-429", "1", "--retry-after", "7", "--callback-delay-ms", "5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("Provider emulator listening on http://127.0.0.1:"), first + process.stderr.read()
        url = first.rsplit(" ", 1)[1].strip()
        config = requests.get(url + "/_emulator/config", timeout=5).json()
        assert config["fail_429"] == 1 and config["retry_after_s"] == 7 and config["callback_delay_ms"] == 5
        webhooks = requests.get(url + "/_emulator/webhooks", timeout=5).json()
        assert webhooks["twilio"][0]["url"] == "http://127.0.0.1:9/in?a=b"
        assert webhooks["telesign"][0]["customer_id"] == TELESIGN_CUSTOMER_ID
        response = requests.post(f"{url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", timeout=5,
                                 auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), data={"To": "+15551234567"})
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped after 1 provider API requests" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--twilio-account", "no-colon"], "expected SID:TOKEN"),
    (["--telesign-account", "C:%%%"], "not base64"),
    (["--telesign-callback-url", "C9=http://x/"], "unknown customer"),
    (["--fail-5xx", "2"], "fail_5xx must be between"),
    (["--twilio-inbound-url", "+1415"], "expected NUMBER=URL"),
])
def test_run_provider_emulator_refuses_bad_flags(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_provider_emulator", "--port", "0", *args)


def test_run_provider_emulator_says_when_the_port_is_taken():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}"):
            call_command("run_provider_emulator", "--port", str(port))


def test_from_hub_registers_the_hubs_accounts_and_callback_urls(telesign_account, twilio_sms_account,
                                                                 twilio_whatsapp_account):
    twilio, telesign, inbound, callbacks = {}, {}, {}, {}
    RunCommand()._from_hub(twilio, telesign, inbound, callbacks)
    assert twilio == {TWILIO_ACCOUNT_SID: TWILIO_AUTH_TOKEN}
    assert telesign == {TELESIGN_CUSTOMER_ID: TELESIGN_API_KEY}
    assert inbound == {"+14155550100": twilio_sms_account.callback_urls()["inbound"],
                       "whatsapp:+14155238886": twilio_whatsapp_account.callback_urls()["inbound"]}
    assert callbacks == {TELESIGN_CUSTOMER_ID: telesign_account.callback_urls()["callback"]}


def test_emulator_inbound_posts_through_the_emulator(emulator, receiver, capsys, tmp_path):
    emulator.set_twilio_inbound_url("whatsapp:+14155238886", receiver.url + "/in")
    picture = tmp_path / "damage.png"
    picture.write_bytes(b"\x89PNG fake")
    call_command("emulator_inbound", "--emulator-url", emulator.url, "--provider", "twilio",
                 "--from", "whatsapp:+15551234567", "--to", "whatsapp:+14155238886", "--text", "Look",
                 "--profile-name", "Ana", "--media", "image/jpeg", "--media-file", str(picture))
    assert "Delivered MM" in capsys.readouterr().out
    form = receiver.received[0].form
    assert form["Body"] == "Look" and form["ProfileName"] == "Ana" and form["NumMedia"] == "2"
    assert form["MediaContentType1"] == "image/png"
    [inbound] = emulator.messages(direction="inbound")
    media = requests.get(inbound["media_urls"][1], auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), timeout=5)
    assert media.content == b"\x89PNG fake"


def test_emulator_inbound_reports_refusals(emulator, receiver):
    with pytest.raises(CommandError, match="no inbound URL registered"):
        call_command("emulator_inbound", "--emulator-url", emulator.url, "--provider", "twilio",
                     "--from", "+15551234567", "--to", "+14155550100", "--text", "hi")
    receiver.status_for["/ts"] = 403
    emulator.set_telesign_callback_url(TELESIGN_CUSTOMER_ID, receiver.url + "/ts")
    with pytest.raises(CommandError, match="the hub answered HTTP 403"):
        call_command("emulator_inbound", "--emulator-url", emulator.url, "--provider", "telesign",
                     "--from", "15551234567", "--to", "14252306549", "--text", "hi")
    with pytest.raises(CommandError, match="Is it running"):
        call_command("emulator_inbound", "--emulator-url", "http://127.0.0.1:9", "--provider", "telesign",
                     "--from", "15551234567", "--to", "14252306549")


def test_run_provider_emulator_serves_acs_over_https(tmp_path):
    from azure.communication.sms import SmsClient

    from devtools.emulator.tls import self_signed_certificate
    from tests.conftest import ACS_ACCESS_KEY, ACS_NUMBER

    cert, key = self_signed_certificate(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_provider_emulator", "--port", "0", "--tls-cert", str(cert),
         "--tls-key", str(key), "--acs-resource", f"contoso:{ACS_ACCESS_KEY}", "--acs-number",
         f"contoso={ACS_NUMBER}:tollFree", "--acs-event-url", "contoso=http://127.0.0.1:9/events"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("  Control API"):
            lines.append(process.stdout.readline())
            assert lines[-1], process.stderr.read()
        endpoint = next(line for line in lines if "ACS endpoint (HTTPS)" in line).split(": ", 1)[1].split(" ")[0]
        assert any("ACS Event Grid   contoso -> http://127.0.0.1:9/events" in line for line in lines)
        client = SmsClient.from_connection_string(f"endpoint={endpoint}/;accesskey={ACS_ACCESS_KEY}",
                                                  connection_verify=str(cert))
        [result] = client.send(from_=ACS_NUMBER, to="+15551234567", message="hi")
        assert result.successful
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err


@pytest.mark.parametrize(("args", "message"), [
    (["--acs-resource", "contoso:%%%"], "not base64"),
    (["--acs-number", "nobody=+18005550100"], "unknown resource nobody"),
    (["--acs-resource", "c:cHc=", "--acs-number", "c=+18005550100:fax"], "type must be one of"),
    (["--acs-event-url", "nobody=http://x/"], "unknown resource"),
    (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
])
def test_run_provider_emulator_refuses_bad_acs_flags(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_provider_emulator", "--port", "0", "--no-tls", *args) if "--tls-cert" not in args \
            else call_command("run_provider_emulator", "--port", "0", *args)


@pytest.mark.parametrize("port", ["99999", "-1", "eighty"])
def test_run_provider_emulator_refuses_ports_that_are_not_ports(port):
    done = subprocess.run([sys.executable, "manage.py", "run_provider_emulator", "--port", port], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "is not a port number" in done.stderr and "Traceback" not in done.stderr


def test_from_hub_registers_the_hubs_acs_accounts(acs_account):
    from tests.conftest import ACS_ACCESS_KEY, ACS_NUMBER

    resources, events = {}, {}
    RunCommand()._acs_from_hub(resources, events)
    name = f"account-{acs_account.pk}"
    assert resources == {name: (ACS_ACCESS_KEY, {ACS_NUMBER: "tollFree"})}
    assert events == {name: acs_account.callback_urls()["events"]}


def test_emulator_inbound_plays_an_acs_customer(emulator, receiver, capsys):
    from tests.conftest import ACS_NUMBER
    from tests.devtools.emulator.conftest import ACS_RESOURCE

    emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events")
    call_command("emulator_inbound", "--emulator-url", emulator.url, "--provider", "acs", "--from", "+15551234567",
                 "--to", ACS_NUMBER, "--text", "Is it shipped?")
    assert capsys.readouterr().out.startswith("Delivered Incoming_")
    [event] = json.loads(receiver.received[0].body)
    assert event["data"]["message"] == "Is it shipped?"


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_run_provider_emulator_refuses_a_port_that_is_not_one_without_a_traceback(port):
    result = subprocess.run([sys.executable, "manage.py", "run_provider_emulator", "--port", port],
                            cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "is not a port number" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
