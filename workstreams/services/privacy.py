"""A contact's conversations and cases, exported and erased (the ``privacy`` app puts the apps' parts together).

Erasing keeps each conversation's row — its states, queue, agent and milestones, which the reports count — and
removes what quoted the customer: the routing sentences (they cite the first message, the name and the
number) and escalation notes; a case keeps its status and dates, its title and description go.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.models import Contact
from workstreams.models import Case, Conversation

#: Routing-diagnosis keys that never quote the customer, kept by an erasure.
DIAGNOSIS_KEPT = ("queue", "rule", "skills", "bot", "transfers")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def contact_work_export(*, contact: Contact) -> dict[str, Any]:
    conversations = []
    for c in (Conversation.objects.filter(contact=contact).select_related("queue", "agent", "phone_number",
                                                                         "workstream")
              .prefetch_related("entries").order_by("created_at", "pk")):
        conversations.append({
            "id": c.pk, "number": c.phone_number.number, "channel": c.channel, "state": c.state,
            "workstream": c.workstream.name if c.workstream_id else None,
            "queue": c.queue.name if c.queue_id else None,
            "agent": c.agent.get_username() if c.agent_id else None, "resolved": c.resolved, "language": c.language,
            "routing_diagnosis": c.routing_diagnosis, "created_at": _iso(c.created_at),
            "first_assigned_at": _iso(c.first_assigned_at), "first_response_at": _iso(c.first_response_at),
            "ended_at": _iso(c.ended_at), "closed_at": _iso(c.closed_at),
            "message_ids": [e.message_id for e in c.entries.all()]})
    cases = [{"id": case.pk, "title": case.title, "description": case.description, "status": case.status,
              "created_at": _iso(case.created_at)}
             for case in Case.objects.filter(contact=contact).order_by("created_at", "pk")]
    return {"conversations": conversations, "cases": cases}


@transaction.atomic
def contact_work_erase(*, contact: Contact) -> dict[str, int]:
    conversations = 0
    for conversation in Conversation.objects.select_for_update().filter(contact=contact):
        diagnosis = conversation.routing_diagnosis or {}
        conversation.routing_diagnosis = {k: v for k, v in diagnosis.items() if k in DIAGNOSIS_KEPT}
        conversation.save(update_fields=["routing_diagnosis", "updated_at"])
        conversations += 1
    cases = Case.objects.filter(contact=contact).update(title=_("(erased)"), description="")
    return {"conversations": conversations, "cases": cases}
