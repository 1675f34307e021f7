"""Daily roll-ups of the largest tables, so that a month of messages is read from a few thousand rows.

Each row counts one day (in ``TIME_ZONE``) and one combination of the dimensions the reports filter by. A day
is rolled up again as a whole (its rows replaced in one transaction); ``RollupDay`` says when, and the
reports read a day from the roll-up only once it was rolled up after the day ended — any other day is
counted from the live tables. Figures that change after a day ends (a delivery report that comes late) are
caught by beat rolling up the last ``REPORTS_ROLLUP_DAYS`` days again.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RollupDay(models.Model):
    day = models.DateField(_("day"), unique=True)
    rolled_at = models.DateTimeField(_("rolled up at"))
    messages = models.PositiveIntegerField(_("messages"), default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")
        permissions = [("view_reports", _("Can view reports"))]

    def __str__(self) -> str:
        return f"{self.day} ({self.rolled_at:%Y-%m-%d %H:%M})"


class MessageDaily(models.Model):
    """Messages of one day by number, direction, kind, status and error code, and by the queue, agent and
    outbound configuration they belong to (through their conversation or outbound request)."""

    day = models.DateField(db_index=True, verbose_name=_("day"))
    phone_number_id = models.BigIntegerField(verbose_name=_("phone number id"))
    provider = models.CharField(max_length=16, verbose_name=_("provider"))
    channel = models.CharField(max_length=16, verbose_name=_("channel"))
    direction = models.CharField(max_length=8, verbose_name=_("direction"))
    kind = models.CharField(max_length=24, verbose_name=_("kind"))
    status = models.CharField(max_length=16, verbose_name=_("status"))
    error_code = models.CharField(max_length=32, blank=True, default="", verbose_name=_("error code"))
    queue_id = models.BigIntegerField(null=True, verbose_name=_("queue id"))
    agent_id = models.BigIntegerField(null=True, verbose_name=_("agent id"))
    workstream_id = models.BigIntegerField(null=True, verbose_name=_("workstream id"))
    configuration_id = models.BigIntegerField(null=True, verbose_name=_("configuration id"))
    count = models.PositiveIntegerField(verbose_name=_("count"))
    segments = models.PositiveBigIntegerField(default=0, verbose_name=_("segments"))

    class Meta:
        verbose_name = _("messages per day")
        verbose_name_plural = _("messages per day")

    def __str__(self) -> str:
        return f"{self.day} {self.provider} {self.status}: {self.count}"


class OutboundDaily(models.Model):
    """Outbound recipients of the requests created on one day, by configuration, batch and what became of
    them: their recipient state and reason, their message's status, and how many of them replied."""

    day = models.DateField(db_index=True, verbose_name=_("day"))
    configuration_id = models.BigIntegerField(verbose_name=_("configuration id"))
    batch_id = models.BigIntegerField(null=True, verbose_name=_("batch id"))
    phone_number_id = models.BigIntegerField(verbose_name=_("phone number id"))
    channel = models.CharField(max_length=16, verbose_name=_("channel"))
    state = models.CharField(max_length=16, verbose_name=_("state"))
    reason_code = models.CharField(max_length=32, blank=True, default="", verbose_name=_("reason code"))
    message_status = models.CharField(max_length=16, blank=True, default="", verbose_name=_("message status"))
    error_code = models.CharField(max_length=32, blank=True, default="", verbose_name=_("error code"))
    count = models.PositiveIntegerField(verbose_name=_("count"))
    replied = models.PositiveIntegerField(default=0, verbose_name=_("replied"))

    class Meta:
        verbose_name = _("outbound recipients per day")
        verbose_name_plural = _("outbound recipients per day")

    def __str__(self) -> str:
        return f"{self.day} configuration {self.configuration_id} {self.state}: {self.count}"


class ConversationDaily(models.Model):
    """Conversations opened on one day, by number, queue, agent and workstream: how many, how many ended and how
    many were resolved."""

    day = models.DateField(db_index=True, verbose_name=_("day"))
    phone_number_id = models.BigIntegerField(verbose_name=_("phone number id"))
    channel = models.CharField(max_length=16, verbose_name=_("channel"))
    queue_id = models.BigIntegerField(null=True, verbose_name=_("queue id"))
    agent_id = models.BigIntegerField(null=True, verbose_name=_("agent id"))
    workstream_id = models.BigIntegerField(null=True, verbose_name=_("workstream id"))
    opened = models.PositiveIntegerField(verbose_name=_("opened"))
    ended = models.PositiveIntegerField(verbose_name=_("ended"))
    resolved = models.PositiveIntegerField(verbose_name=_("resolved"))

    class Meta:
        verbose_name = _("conversations per day")
        verbose_name_plural = _("conversations per day")

    def __str__(self) -> str:
        return f"{self.day}: {self.opened}"


class ConversationTimeDaily(models.Model):
    """How long the conversations opened on one day took, as a histogram per measure (first response, wait,
    handle): ``count`` conversations fell in ``bucket``, taking ``seconds`` together (reports/histogram.py)."""

    day = models.DateField(db_index=True, verbose_name=_("day"))
    phone_number_id = models.BigIntegerField(verbose_name=_("phone number id"))
    channel = models.CharField(max_length=16, verbose_name=_("channel"))
    queue_id = models.BigIntegerField(null=True, verbose_name=_("queue id"))
    agent_id = models.BigIntegerField(null=True, verbose_name=_("agent id"))
    workstream_id = models.BigIntegerField(null=True, verbose_name=_("workstream id"))
    measure = models.CharField(max_length=16, verbose_name=_("measure"))
    bucket = models.PositiveIntegerField(verbose_name=_("bucket"))
    count = models.PositiveIntegerField(verbose_name=_("count"))
    seconds = models.FloatField(help_text=_("The durations of the bucket's conversations added up."),
                                verbose_name=_("seconds"))

    class Meta:
        verbose_name = _("conversation times per day")
        verbose_name_plural = _("conversation times per day")

    def __str__(self) -> str:
        return f"{self.day} {self.measure} [{self.bucket}]: {self.count}"
