"""Conversation milestones for the reports (wait, first-response and handle time), backfilled from what the
rows already hold: the queue and assignment times, and the first agent message of each conversation."""

from django.db import migrations, models
from django.db.models import F, Min, OuterRef, Subquery


def backfill(apps, schema_editor):
    Conversation = apps.get_model("workstreams", "Conversation")
    ConversationMessage = apps.get_model("workstreams", "ConversationMessage")
    # The earliest time known for each: a conversation moved to another queue or agent since kept only the
    # latest, which is then the best estimate there is.
    Conversation.objects.filter(first_queued_at__isnull=True, queued_at__isnull=False).update(
        first_queued_at=F("queued_at"))
    Conversation.objects.filter(first_assigned_at__isnull=True, assigned_at__isnull=False).update(
        first_assigned_at=F("assigned_at"))
    first_agent_message = (
        ConversationMessage.objects.filter(conversation_id=OuterRef("pk"), message__direction="outbound",
                                           message__author__isnull=False)
        .values("conversation_id").annotate(first=Min("message__created_at")).values("first")[:1])
    Conversation.objects.filter(first_response_at__isnull=True).update(first_response_at=Subquery(first_agent_message))


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0007_trace_ids"),
        ("workstreams", "0011_offers_overflow_split"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation", name="first_queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True,
                                       help_text="When it first waited in a queue for an agent (after its bot, if "
                                                 "it had one)."),
        ),
        migrations.AddField(
            model_name="conversation", name="first_assigned_at",
            field=models.DateTimeField(blank=True, editable=False, help_text="When an agent first had it.",
                                       null=True),
        ),
        migrations.AddField(
            model_name="conversation", name="first_response_at",
            field=models.DateTimeField(blank=True, editable=False, help_text="When an agent first answered the "
                                       "customer.", null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
