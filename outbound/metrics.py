"""State gauges of proactive sends, read at scrape time (config/metrics.py): requests not finished, and
the progress of each batch still under way."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from config.metrics import gauge
from outbound.models import BatchState, OutboundBatch, OutboundRecipient, OutboundRequest, RequestState

#: A finished batch is still shown this long (so a dashboard sees it reach 100 %).
FINISHED_SHOWN = timedelta(hours=1)


def collect():
    requests = gauge("hub_outbound_requests_open", "Outbound requests not done yet, by state.", ["state"])
    counts = dict(OutboundRequest.objects.exclude(state=RequestState.DONE).values_list("state")
                  .annotate(n=Count("pk")).order_by())
    for state in RequestState.values:
        if state != RequestState.DONE:
            requests.add_metric([state], counts.get(state, 0))
    contacts = gauge("hub_outbound_batch_contacts", "Contacts of a batch under way (or finished within the hour).",
                     ["batch"])
    submitted = gauge("hub_outbound_batch_contacts_submitted", "Contacts of the batch in requests so far.", ["batch"])
    outcome = gauge("hub_outbound_batch_recipients", "The batch's submitted contacts by state (pending: not "
                    "handed to the provider yet).", ["batch", "state"])
    recent = timezone.now() - FINISHED_SHOWN
    batches = list(OutboundBatch.objects.filter(
        Q(state=BatchState.SUBMITTING) | Q(requests__state__in=[RequestState.PENDING, RequestState.SENDING,
                                                                  RequestState.WAITING])
        | Q(finished_at__gte=recent) | Q(requests__finished_at__gte=recent)).distinct().order_by("pk")[:100])
    states = {}
    for row in (OutboundRecipient.objects.filter(request__batch__in=batches).values("request__batch", "state")
                .annotate(n=Count("pk")).order_by()):
        states.setdefault(row["request__batch"], {})[row["state"]] = row["n"]
    for batch in batches:
        label = str(batch.pk)
        contacts.add_metric([label], batch.contact_count)
        mine = states.get(batch.pk, {})
        submitted.add_metric([label], sum(mine.values()))
        for state in sorted(mine):
            outcome.add_metric([label, state], mine[state])
    yield from (requests, contacts, submitted, outcome)
