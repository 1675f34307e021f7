"""The providers' official SDKs, pointed at the emulator, work against it; its callbacks pass their validators."""

import json

import pytest
from telesign.messaging import MessagingClient
from telesign.util import verify_telesign_callback_signature
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import (
    ACS_ACCESS_KEY,
    ACS_NUMBER,
    TELESIGN_API_KEY,
    TELESIGN_CUSTOMER_ID,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
)
from tests.devtools.emulator.conftest import ACS_RESOURCE


def twilio_client(emulator) -> Client:
    client = Client(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    client.api.base_url = emulator.url  # the api.twilio.com domain, re-pointed
    return client


def test_twilio_sdk_sends_fetches_and_reads_the_account(emulator, receiver):
    client = twilio_client(emulator)
    callback = receiver.url + "/status?message=7"
    message = client.messages.create(to="+15551234567", from_="+14155550100", body="Hello from the SDK",
                                     status_callback=callback)
    assert message.sid.startswith("SM") and message.status == "queued" and message.num_segments == "1"
    assert message.date_created is not None and message.error_code is None
    assert emulator.wait_idle(5)
    assert client.messages(message.sid).fetch().status == "delivered"
    account = client.api.v2010.accounts(TWILIO_ACCOUNT_SID).fetch()
    assert account.status == "active" and account.type == "Full"
    validator = RequestValidator(TWILIO_AUTH_TOKEN)
    assert [validator.validate(callback, r.form, r.headers["X-Twilio-Signature"]) for r in receiver.received] == [
        True, True]
    assert [r.form["MessageStatus"] for r in receiver.received] == ["sent", "delivered"]


def test_twilio_sdk_raises_twilios_error_codes(emulator):
    client = twilio_client(emulator)
    with pytest.raises(TwilioRestException) as bad_to:
        client.messages.create(to="12", from_="+14155550100", body="hi")
    assert bad_to.value.status == 400 and bad_to.value.code == 21211
    wrong = Client(TWILIO_ACCOUNT_SID, "wrong-token")
    wrong.api.base_url = emulator.url
    with pytest.raises(TwilioRestException) as denied:
        wrong.messages.create(to="+15551234567", from_="+14155550100", body="hi")
    assert denied.value.status == 401 and denied.value.code == 20003


@pytest.mark.parametrize("auth_method", [None, "Basic"], ids=["hmac", "basic"])
def test_telesign_sdk_sends_and_reads_the_status(emulator, receiver, auth_method):
    client = MessagingClient(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY, rest_endpoint=emulator.url,
                             auth_method=auth_method)
    response = client.message("15551234567", "Your code is 1234", "OTP", callback_url=receiver.url + "/dr",
                              external_id="sdk-1")
    assert response.status_code == 200, response.body
    reference_id = response.json["reference_id"]
    assert response.json["status"]["code"] == 290 and response.json["external_id"] == "sdk-1"
    assert emulator.wait_idle(5)
    status = client.status(reference_id)
    assert status.status_code == 200 and status.json["status"]["code"] == 200
    [report] = receiver.received
    signature = report.headers["Authorization"].split(":", 1)[1]
    assert verify_telesign_callback_signature(TELESIGN_API_KEY, signature, report.body.decode())
    assert json.loads(report.body)["reference_id"] == reference_id


def test_telesign_sdk_with_a_wrong_key_gets_10008(emulator):
    client = MessagingClient(TELESIGN_CUSTOMER_ID, "d3Jvbmcta2V5LXdyb25nLWtleQ==", rest_endpoint=emulator.url)
    response = client.message("15551234567", "hi", "ARN")
    assert response.status_code == 401 and response.json["status"]["code"] == 10008


def test_azure_sdk_sends_through_the_emulator_and_the_report_arrives_through_event_grid(emulator, receiver,
                                                                                      tls_files):
    """azure-communication-sms, unmodified: it speaks only HTTPS, so it trusts the emulator's certificate."""
    from azure.communication.sms import SmsClient

    emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events")
    client = SmsClient.from_connection_string(f"endpoint={emulator.tls_url}/;accesskey={ACS_ACCESS_KEY}",
                                              connection_verify=str(tls_files[0]))
    [result] = client.send(from_=ACS_NUMBER, to="+15551234567", message="Hello from the Azure SDK",
                           enable_delivery_report=True, tag="sdk-1")
    assert result.successful and result.http_status_code == 202 and result.message_id.startswith("Outgoing_")
    [sent] = emulator.messages(provider="acs")
    assert (sent["to"], sent["from"], sent["body"], sent["tag"]) == (
        "+15551234567", ACS_NUMBER, "Hello from the Azure SDK", "sdk-1")
    assert emulator.wait_idle(5)
    [delivery] = receiver.wait_for(1)
    [event] = json.loads(delivery.body)
    assert (event["data"]["messageId"], event["data"]["deliveryStatus"], event["data"]["Tag"]) == (
        result.message_id, "Delivered", "sdk-1")


def test_azure_sdk_with_a_wrong_key_is_refused(emulator, tls_files):
    from azure.communication.sms import SmsClient
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    client = SmsClient.from_connection_string(f"endpoint={emulator.tls_url}/;accesskey=d3Jvbmcta2V5",
                                              connection_verify=str(tls_files[0]))
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as refused:
        client.send(from_=ACS_NUMBER, to="+15551234567", message="hi")
    assert refused.value.status_code == 401
    assert not emulator.messages(provider="acs")
