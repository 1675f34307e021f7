"""Who may read which figures: staff with *Can view reports*; an administrator (as
``workstreams.services.access`` defines one) reads every figure, a supervisor those of the queues and
workstreams they supervise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from config.exceptions import ServiceError
from workstreams.models import Queue, Workstream, WorkstreamNumber
from workstreams.services.access import user_roles

PERMISSION = "reports.view_reports"


@dataclass(frozen=True)
class ReportScope:
    everything: bool
    queue_ids: frozenset[int] = frozenset()
    workstream_ids: frozenset[int] = frozenset()
    #: The numbers of the supervised workstreams: their opt-outs, outbound sends and messages.
    phone_number_ids: frozenset[int] = frozenset()

    def conversations(self) -> dict[str, frozenset[int]] | None:
        """The reach as "any of" filters on a conversation (None: everything)."""
        return None if self.everything else {"queue_id": self.queue_ids, "workstream_id": self.workstream_ids}

    def messages(self) -> dict[str, frozenset[int]] | None:
        if self.everything:
            return None
        return {"queue_id": self.queue_ids, "workstream_id": self.workstream_ids,
                "phone_number_id": self.phone_number_ids}

    def numbers(self) -> dict[str, frozenset[int]] | None:
        return None if self.everything else {"phone_number_id": self.phone_number_ids}


def report_scope(user: Any) -> ReportScope:
    """The figures ``user`` may read, or the ServiceError (403) saying why none."""
    roles = user_roles(user)
    if not roles.staff:
        raise ServiceError(_("Reports are for staff users; an administrator can tick “Staff status” on your user."),
                           code="not_staff", http_status=403)
    if not user.has_perm(PERMISSION):
        raise ServiceError(_("You need the permission “Can view reports”; an administrator can grant it in the "
                             "admin under Users (or through a group such as Supervisors)."),
                           code="permission_denied", http_status=403)
    if roles.admin:
        return ReportScope(everything=True)
    queues = frozenset(Queue.supervisors.through.objects.filter(user_id=user.pk).values_list("queue_id", flat=True))
    workstreams = frozenset(Workstream.supervisors.through.objects.filter(user_id=user.pk)
                            .values_list("workstream_id", flat=True))
    if not roles.supervisor or not (queues or workstreams):
        raise ServiceError(_("Reports show the figures of the queues and workstreams you supervise, and you "
                             "supervise none; an administrator can list you under Supervisors on a queue or a "
                             "workstream."), code="supervises_nothing", http_status=403)
    numbers = frozenset(WorkstreamNumber.objects.filter(workstream_id__in=workstreams)
                        .values_list("phone_number_id", flat=True))
    return ReportScope(everything=False, queue_ids=queues, workstream_ids=workstreams, phone_number_ids=numbers)
