"""The console's reads: what the conversation page offers around the thread."""

from workstreams.console import selectors
from workstreams.models import RoutingRule, WhatsAppTemplate, Workstream, WorkstreamNumber
from workstreams.services.conversations import TEMPLATE_VARIABLE, template_variables


def test_template_variables_follow_the_send_services_rule():
    text = "Hi {{ 1 }}, order {{2}} for {{ name}} — {{1}} again"
    assert template_variables(text) == ["1", "2", "name"]
    assert set(template_variables(text)) == set(TEMPLATE_VARIABLE.findall(text))


def test_the_template_picker_offers_variables_written_with_spaces(twilio_whatsapp_account, support_queue, receive):
    workstream = Workstream.objects.create(name="WhatsApp support", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=workstream,
                                             phone_number=twilio_whatsapp_account.numbers.get())
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    WhatsAppTemplate.objects.create(number=number, name="order_update", language="en",
                                    text="Hi {{ 1 }}, your order {{2}} has shipped.", content_sid="HX" + "b" * 32)
    conversation = receive(twilio_whatsapp_account, "hello")
    [template] = selectors.whatsapp_templates(conversation)
    assert template["variables"] == ["1", "2"]
