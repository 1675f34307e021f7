"""A seeded month for the reports: every day the same pattern, so each figure is known in advance.

Per day (``DAYS`` days ending yesterday, in ``TIME_ZONE``):

- three conversations on the Twilio SMS number in *Support* with Ana: wait 1, 2, 3 min; first response 2, 3,
  4 min after opening; handled 20 min; the third not resolved. Each: the customer's message, and Ana's answer
  — delivered, failed (Twilio 30003) and sent (no delivery report yet);
- one conversation on the TeleSign number in *Billing* with Bob: wait 10 min, first response 12 min, handled
  50 min, resolved; Bob's answer delivered;
- an outbound request of "Parcel delayed" (batch "November list") to four contacts: delivered (and the contact
  replies), failed at the provider (21610), skipped (opted_out), not sent (invalid_number);
- every fifth day, one opt-out on the Twilio number.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from channels_app.models import (
    Channel,
    ConsentRecord,
    ConsentState,
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    PhoneNumber,
)
from channels_app.services import NumberSpec, account_create
from outbound.models import (
    MessageTemplate,
    OutboundBatch,
    OutboundConfiguration,
    OutboundRecipient,
    OutboundReply,
    OutboundRequest,
    RecipientState,
    Source,
    TemplateLocalization,
)
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationMessage,
    ConversationState,
    Queue,
    Workstream,
    WorkstreamNumber,
)

DAYS = 30


@contextlib.contextmanager
def given_times(*models):
    """Let bulk_create keep the creation times given (auto_now_add would overwrite them with now)."""
    fields = [f for m in models for f in m._meta.fields if getattr(f, "auto_now_add", False)]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f in fields:
            f.auto_now_add = True


@dataclass
class World:
    first_day: date
    last_day: date
    twilio: PhoneNumber
    telesign: PhoneNumber
    support: Queue
    billing: Queue
    ana: object
    bob: object
    configuration: OutboundConfiguration
    batch: OutboundBatch


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)), timezone.get_default_timezone())


def seed_month(django_user_model, *, days: int = DAYS) -> World:
    twilio_account = account_create(
        name="Twilio SMS", channel=Channel.SMS, provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
        numbers=[NumberSpec(number="+14155550100", number_type="long_code", description="Support line")])
    telesign_account = account_create(
        name="TeleSign SMS", channel=Channel.SMS, provider="telesign",
        credentials={"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY},
        numbers=[NumberSpec(number="14252306549", number_type="geographic", description="Billing line")])
    twilio, telesign = twilio_account.numbers.get(), telesign_account.numbers.get()
    support = Queue.objects.create(name="Support", priority=2)
    billing = Queue.objects.create(name="Billing", priority=1)
    sms = Workstream.objects.create(name="SMS support", channel="sms")
    WorkstreamNumber.objects.create(workstream=sms, phone_number=twilio)
    lines = Workstream.objects.create(name="Billing line", channel="sms")
    WorkstreamNumber.objects.create(workstream=lines, phone_number=telesign)
    perms = Permission.objects.filter(codename__in=["view_conversation", "change_conversation"])
    ana = django_user_model.objects.create_user("ana", password="pw", first_name="Ana", is_staff=True)
    bob = django_user_model.objects.create_user("bob", password="pw", first_name="Bob", is_staff=True)
    for user, queue in ((ana, support), (bob, billing)):
        user.user_permissions.add(*perms)
        AgentProfile.objects.create(user=user, presence="available")
        queue.members.add(user)
    template = MessageTemplate.objects.create(name="Parcel", channel="sms")
    TemplateLocalization.objects.create(template=template, language="en", text="Your parcel is late.")
    configuration = OutboundConfiguration.objects.create(name="Parcel delayed", channel_type="sms",
                                                         phone_number=twilio, template=template)
    batch = OutboundBatch.objects.create(configuration=configuration, name="November list", source=Source.ADMIN,
                                         state="submitted")
    last = timezone.localdate() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    for i in range(days):
        _seed_day(first + timedelta(days=i), i, twilio=twilio, telesign=telesign, support=support, billing=billing,
                  ana=ana, bob=bob, sms=sms, lines=lines, configuration=configuration, batch=batch)
    return World(first, last, twilio, telesign, support, billing, ana, bob, configuration, batch)


def _message(phone, contact, at, direction, status, *, author=None, error="", body="", kind=MessageKind.REGULAR):
    return Message(account_id=phone.account_id, phone_number=phone, contact=contact, provider=phone.provider,
                   channel=phone.channel, direction=direction, kind=kind, status=status, error_code=error,
                   body=body, created_at=at, author=author, segments=1)


def _seed_day(day, i, *, twilio, telesign, support, billing, ana, bob, sms, lines, configuration, batch):
    plan = [  # number, queue, workstream, agent, wait, response, handle, resolved, reply status, error
        (twilio, support, sms, ana, 1, 2, 20, True, MessageStatus.DELIVERED, ""),
        (twilio, support, sms, ana, 2, 3, 20, True, MessageStatus.FAILED, "30003"),
        (twilio, support, sms, ana, 3, 4, 20, False, MessageStatus.SENT, ""),
        (telesign, billing, lines, bob, 10, 12, 50, True, MessageStatus.DELIVERED, ""),
    ]
    with given_times(Message, Conversation, Contact, ConsentRecord, OutboundRequest, OutboundReply):
        contacts = Contact.objects.bulk_create([
            Contact(address=f"+1555{i:03d}{j:04d}", display_name=f"Customer {i}-{j}", created_at=_at(day, 8))
            for j in range(len(plan) + 4)])
        conversations, messages = [], []
        for j, (phone, queue, workstream, agent, wait, response, handle, resolved, status, error) in enumerate(plan):
            opened = _at(day, 9 + j)
            assigned = opened + timedelta(minutes=wait)
            conversation = Conversation(
                contact=contacts[j], phone_number=phone, workstream=workstream, channel="sms",
                state=ConversationState.CLOSED, queue=queue, agent=agent, resolved=resolved, created_at=opened,
                queued_at=opened, first_queued_at=opened, assigned_at=assigned, first_assigned_at=assigned,
                first_response_at=opened + timedelta(minutes=response), ended_at=assigned + timedelta(minutes=handle),
                closed_at=assigned + timedelta(minutes=handle))
            conversations.append(conversation)
            messages.append((conversation, _message(phone, contacts[j], opened, Direction.INBOUND,
                                                    MessageStatus.RECEIVED, body=f"Where is parcel {i}-{j}?")))
            messages.append((conversation, _message(phone, contacts[j], opened + timedelta(minutes=response),
                                                    Direction.OUTBOUND, status, author=agent, error=error,
                                                    body=f"It left the depot, {i}-{j}.")))
        Conversation.objects.bulk_create(conversations)
        Message.objects.bulk_create([m for _c, m in messages])
        ConversationMessage.objects.bulk_create([ConversationMessage(conversation=c, message=m) for c, m in messages])
        request = OutboundRequest.objects.create(configuration=configuration, source=Source.ADMIN, batch=batch,
                                                 state="done", contact_count=4, created_at=_at(day, 14))
        outcomes = [(RecipientState.MESSAGE, MessageStatus.DELIVERED, "", ""),
                    (RecipientState.MESSAGE, MessageStatus.FAILED, "", "21610"),
                    (RecipientState.SKIPPED, None, "opted_out", ""),
                    (RecipientState.REJECTED, None, "invalid_number", "")]
        recipients = []
        for k, (state, status, reason, error) in enumerate(outcomes):
            target = contacts[len(plan) + k]
            message = None
            if status is not None:
                message = _message(twilio, target, _at(day, 14, 1), Direction.OUTBOUND, status, error=error,
                                   body="Your parcel is late.", kind=MessageKind.OUTBOUND)
                message.save()
            recipients.append(OutboundRecipient(request=request, index=k, to_address=target.address, contact=target,
                                                optin=True, state=state, reason_code=reason, message=message,
                                                customer_name=f"Customer {i}-{k}",
                                                context_items={"order": f"A-{i}-{k}"}))
        OutboundRecipient.objects.bulk_create(recipients)
        answer = _message(twilio, recipients[0].contact, _at(day, 15), Direction.INBOUND, MessageStatus.RECEIVED,
                          body="Thanks, when will it come?")
        answer.save()
        OutboundReply.objects.create(reply=answer, outbound_message=recipients[0].message, recipient=recipients[0],
                                     created_at=_at(day, 15))
        if i % 5 == 0:
            ConsentRecord.objects.create(contact=contacts[0], phone_number=twilio, state=ConsentState.OPTED_OUT,
                                         source="keyword", detail="STOP", created_at=_at(day, 16))
