"""The work: workstreams, queues and their hours, routing rules, agents, bots, automated messages,
conversations and cases."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app.fields import EncryptedTextField
from channels_app.models import Channel, Contact, Message, PhoneNumber
from channels_app.services.accounts import phone_number_carries_attachments, phone_number_provider_label


def _validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(gettext("'%(value)s' is not a time zone name such as Europe/Lisbon or America/New_York.")
                              % {"value": value})


class OperatingHours(models.Model):
    """When a queue is staffed: weekly opening times and holidays, in one time zone."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    time_zone = models.CharField(max_length=64, default="UTC", validators=[_validate_time_zone],
                                 help_text=_("IANA name, e.g. Europe/Lisbon."), verbose_name=_("time zone"))

    class Meta:
        verbose_name = _("operating hours")
        verbose_name_plural = _("operating hours")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class OperatingSlot(models.Model):
    hours = models.ForeignKey(OperatingHours, on_delete=models.CASCADE, related_name="slots", verbose_name=_("hours"))
    weekday = models.IntegerField(choices=Weekday.choices, verbose_name=_("weekday"))
    opens = models.TimeField(verbose_name=_("opens"))
    closes = models.TimeField(help_text=_("Exclusive. Use 23:59:59 for 'until midnight'."), verbose_name=_("closes"))

    class Meta:
        verbose_name = _("operating slot")
        verbose_name_plural = _("operating slots")
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    def clean(self):
        if self.opens and self.closes and self.closes <= self.opens:
            raise ValidationError({"closes": gettext("Closing time must be after opening time.")})


class Holiday(models.Model):
    hours = models.ForeignKey(OperatingHours, on_delete=models.CASCADE, related_name="holidays",
                              verbose_name=_("hours"))
    date = models.DateField(verbose_name=_("date"))
    name = models.CharField(max_length=100, blank=True, default="", verbose_name=_("name"))

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["hours", "date"], name="workstreams_holiday_once")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class AssignmentMethod(models.TextChoices):
    HIGHEST_CAPACITY = "highest_capacity", _("Highest capacity (ties by round robin)")
    ROUND_ROBIN = "round_robin", _("Round robin (earliest last assignment first)")


class SkillMatching(models.TextChoices):
    EXACT = "exact", _("Exact: agents must have every required skill")
    CLOSEST = "closest", _("Closest: best-matching agents first, others if none match")


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    priority = models.IntegerField(default=0, help_text=_("Higher-priority queues are served first."),
                                   verbose_name=_("priority"))
    is_default = models.BooleanField(
        _("default queue"), default=False, help_text=_("Where conversations go when nothing else routes them.")
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="queues",
                                     help_text=_("Agents who take work from this queue."), verbose_name=_("members"))
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="supervised_queues",
        help_text=_("Staff who monitor, transfer, reassign and force-close every conversation of this queue. Only "
                    "users with the permission “Can supervise conversations” (e.g. through the Supervisors group) "
                    "are listed."), verbose_name=_("supervisors"))
    operating_hours = models.ForeignKey(OperatingHours, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="queues", help_text=_("Empty: always open."),
                                        verbose_name=_("operating hours"))
    assignment_method = models.CharField(max_length=20, choices=AssignmentMethod.choices,
                                         default=AssignmentMethod.HIGHEST_CAPACITY, verbose_name=_("assignment method"))
    skill_matching = models.CharField(max_length=10, choices=SkillMatching.choices, default=SkillMatching.EXACT,
                                      help_text=_("Used when a routing rule asks for skills."),
                                      verbose_name=_("skill matching"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="workstreams_one_default_queue"),
        ]

    def __str__(self) -> str:
        return self.name


class Skill(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text=_("e.g. Spanish, Billing, Returns."),
                            verbose_name=_("name"))

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Presence(models.TextChoices):
    AVAILABLE = "available", _("Available")
    BUSY = "busy", _("Busy")
    DO_NOT_DISTURB = "dnd", _("Do not disturb")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


#: Presences that receive pushed work.
PUSH_PRESENCES = (Presence.AVAILABLE, Presence.BUSY)


def ui_language_choices() -> list[tuple[str, str]]:
    """The languages of the admin and the console (``LANGUAGES``), each named in its own language."""
    from django.utils.text import capfirst
    from django.utils.translation import get_language_info

    return [("", _("The browser's language")),
            *((code, capfirst(get_language_info(code)["name_local"])) for code, _name in settings.LANGUAGES)]


class AgentProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile",
                                verbose_name=_("user"))
    language = models.CharField(
        _("language"), max_length=16, blank=True, default="", choices=ui_language_choices,
        help_text=_("The language of the admin and the agent console for this agent. The language switcher "
                    "overrides it on one browser; blank: the browser's language. Customers' messages do not "
                    "follow it."))
    capacity = models.PositiveIntegerField(
        default=100, help_text=_("Units of work at once; each conversation uses its workstream's capacity.")
    , verbose_name=_("capacity"))
    presence = models.CharField(max_length=16, choices=Presence.choices, default=Presence.OFFLINE,
                                verbose_name=_("presence"))
    presence_changed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("presence changed at"))
    last_assigned_at = models.DateTimeField(null=True, blank=True, help_text=_("For round robin."),
                                            verbose_name=_("last assigned at"))
    public_name = models.CharField(
        _("name customers see"), max_length=100, blank=True, default="",
        help_text=_("What {AgentName} becomes in quick replies, e.g. “Ana”. Blank: the full name; the username "
                    "is never shown to customers."))
    offers_missed = models.PositiveIntegerField(
        _("offers missed in a row"), default=0,
        help_text=_("Offers this agent let time out since their last answer. At OFFER_MISSED_LIMIT the agent is "
                    "set Away and receives no pushed work until they change their presence."))
    presence_notice = models.CharField(
        _("presence notice"), max_length=300, blank=True, default="",
        help_text=_("Why the hub changed this agent's presence; shown in the console until the agent changes it."))

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()

    def name_for_customers(self) -> str:
        """The agent's name as customers see it; empty when there is none but the username."""
        user = self.user
        return (self.public_name or user.get_full_name() or user.first_name).strip()

    @property
    def display_name(self) -> str:
        return str(self)


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills", verbose_name=_("agent"))
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents", verbose_name=_("skill"))
    proficiency = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(10)],
                                                   help_text=_("1 (novice) to 10 (expert)."),
                                                   verbose_name=_("proficiency"))

    class Meta:
        verbose_name = _("agent skill")
        verbose_name_plural = _("agent skills")
        constraints = [models.UniqueConstraint(fields=["agent", "skill"], name="workstreams_agent_skill_once")]

    def __str__(self) -> str:
        return f"{self.skill} {self.proficiency}"


class BotKind(models.TextChoices):
    RULES = "rules", _("Rule bot (keywords and patterns)")
    HTTP = "http", _("HTTP bot (your service answers)")


class Bot(models.Model):
    """Gets a conversation before any agent; escalating hands it to routing and the agents."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    kind = models.CharField(max_length=10, choices=BotKind.choices, default=BotKind.RULES, verbose_name=_("kind"))
    escalation_keywords = models.CharField(
        max_length=200, default="agent, human, person",
        help_text=_("Comma-separated words; a customer message that is one of them escalates to an agent."),
        verbose_name=_("escalation keywords"),
    )
    unmatched_escalates = models.BooleanField(
        default=True, help_text=_("Rule bot: escalate when no rule matches (else send the fallback answer).")
    , verbose_name=_("unmatched escalates"))
    fallback_answer = models.TextField(blank=True, default="Sorry, I did not understand. Type AGENT to talk "
                                                              "to a person.", verbose_name=_("fallback answer"))
    url = models.URLField(blank=True, default="", help_text=_("HTTP bot: where each customer message is POSTed."),
                          verbose_name=_("url"))
    secret = EncryptedTextField(blank=True, default="", help_text=_("HTTP bot: key of the X-Hub-Signature "
                                                                    "HMAC-SHA256 header over the body. Write-only."),
                                verbose_name=_("secret"))
    timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.5), MaxValueValidator(30)],
                                        verbose_name=_("timeout seconds"))

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")

    def __str__(self) -> str:
        return self.name

    def escalation_words(self) -> set[str]:
        return {w.strip().upper() for w in self.escalation_keywords.split(",") if w.strip()}


class BotRuleMatch(models.TextChoices):
    KEYWORD = "keyword", _("Contains the word")
    REGEX = "regex", _("Matches the regular expression")


class BotRule(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="rules", verbose_name=_("bot"))
    order = models.PositiveIntegerField(default=0, verbose_name=_("order"))
    match = models.CharField(max_length=10, choices=BotRuleMatch.choices, default=BotRuleMatch.KEYWORD,
                             verbose_name=_("match"))
    pattern = models.CharField(max_length=300, verbose_name=_("pattern"))
    answers = models.JSONField(default=dict, help_text=_(
        'Answer per language, e.g. {"en": "We open at 9.", "es": "Abrimos a las 9."}. The first language is the '
        'fallback.'), verbose_name=_("answers"))
    escalate = models.BooleanField(default=False, help_text=_("Hand the conversation to an agent after answering."),
                                   verbose_name=_("escalate"))

    class Meta:
        verbose_name = _("bot rule")
        verbose_name_plural = _("bot rules")
        ordering = ["bot", "order", "id"]

    def __str__(self) -> str:
        return f"{self.get_match_display()} {self.pattern!r}"


class DistributionMode(models.TextChoices):
    PUSH = "push", _("Push: the system assigns")
    PICK = "pick", _("Pick: agents take work from the queue")


class WrapUpCapacity(models.TextChoices):
    ALWAYS = "always", _("Block capacity until closed")
    FOR_TIME = "for_time", _("Block capacity for a set time")
    NONE = "none", _("Release capacity at once")


class Workstream(models.Model):
    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    channel = models.CharField(max_length=16, choices=Channel.choices, help_text=_("SMS or WhatsApp."),
                               verbose_name=_("channel"))
    distribution_mode = models.CharField(max_length=8, choices=DistributionMode.choices,
                                         default=DistributionMode.PUSH, verbose_name=_("distribution mode"))
    capacity_per_conversation = models.PositiveIntegerField(
        default=25, help_text=_("Capacity units each active conversation uses (agents have 100 by default)."),
        verbose_name=_("capacity per conversation"))
    waiting_auto_close = models.DurationField(
        _("auto-close waiting after"), default=timedelta(days=7),
        help_text=_("A conversation left waiting (agent stepped away) with no activity is closed after this long."))
    keep_same_agent = models.BooleanField(_("keep same agent (affinity)"), default=True,
                                          help_text=_("A returning customer goes to their previous agent when that "
                                                      "agent can take it."))
    fallback_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                       help_text=_("When no routing rule matches (empty: the default queue)."),
                                       verbose_name=_("fallback queue"))
    wrap_up_capacity = models.CharField(max_length=10, choices=WrapUpCapacity.choices,
                                        default=WrapUpCapacity.FOR_TIME, verbose_name=_("wrap up capacity"))
    wrap_up_time = models.DurationField(default=timedelta(minutes=5),
                                        help_text=_("With 'for a set time': how long wrap-up keeps using capacity."),
                                        verbose_name=_("wrap up time"))
    offers_enabled = models.BooleanField(
        _("offer work to agents"), default=False,
        help_text=_("Push mode: each conversation is offered to an agent, who accepts or declines it within the "
                    "offer time; a decline or a timeout offers it to the next agent. Off: conversations are "
                    "assigned at once (auto-accept)."))
    offer_timeout = models.PositiveIntegerField(
        _("offer time (seconds)"), default=60, validators=[MinValueValidator(10), MaxValueValidator(3600)],
        help_text=_("How long an agent has to accept an offer before it goes to the next agent (10 to 3,600)."))
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="workstreams",
                            help_text=_("Gets each new conversation before any agent."), verbose_name=_("bot"))
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="supervised_workstreams",
        help_text=_("Staff who monitor, transfer, reassign and force-close every conversation of this workstream, "
                    "whatever its queue. Only users with the permission “Can supervise conversations” (e.g. through "
                    "the Supervisors group) are listed."), verbose_name=_("supervisors"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("workstream")
        verbose_name_plural = _("workstreams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkstreamNumber(models.Model):
    """One of our numbers attached to a workstream, with its behaviours."""

    workstream = models.ForeignKey(Workstream, on_delete=models.CASCADE, related_name="numbers",
                                   verbose_name=_("workstream"))
    phone_number = models.OneToOneField(
        PhoneNumber, on_delete=models.CASCADE, related_name="workstream_number",
        help_text=_("A number belongs to at most one workstream."),
        verbose_name=_("phone number"),
    )
    language = models.CharField(_("default language"), max_length=16, default="en",
                                help_text=_("Language of automated messages when the customer's is unknown."))
    customers_may_send_attachments = models.BooleanField(
        default=True, help_text=_("Store files customers send. When off, files are not stored and the message says so.")
    , verbose_name=_("customers may send attachments"))
    agents_may_send_attachments = models.BooleanField(default=True, help_text=_("Let agents attach files to replies."),
                                                      verbose_name=_("agents may send attachments"))
    survey_enabled = models.BooleanField(_("send post-conversation survey"), default=False)
    survey_url = models.URLField(
        blank=True, default="", max_length=500,
        help_text=_("Sent when a conversation ends. {ConversationId} is replaced, e.g. https://survey.example/s?c="
                    "{ConversationId}"),
                    verbose_name=_("survey url"),
    )

    class Meta:
        verbose_name = _("workstream number")
        verbose_name_plural = _("workstream numbers")

    def __str__(self) -> str:
        return gettext("%(number)s in %(workstream)s") % {"number": self.phone_number, "workstream": self.workstream}

    def clean(self):
        if self.phone_number_id and self.workstream_id and self.phone_number.channel != self.workstream.channel:
            raise ValidationError({"phone_number": gettext("The number's channel does not match the workstream's.")})
        if self.phone_number_id and not phone_number_carries_attachments(phone_number=self.phone_number):
            label = phone_number_provider_label(phone_number=self.phone_number)
            message = (gettext("%(provider)s %(channel)s messages carry no attachments: switch this off for this "
                               "number.") % {"provider": label, "channel": self.phone_number.get_channel_display()})
            errors = {name: message for name in ("customers_may_send_attachments", "agents_may_send_attachments")
                      if getattr(self, name)}
            if errors:
                raise ValidationError(errors)
        if self.survey_enabled and not self.survey_url:
            raise ValidationError({"survey_url": gettext("Enter the survey link, or switch the survey off.")})


class AutomatedMessageKind(models.TextChoices):
    GREETING = "greeting", _("Greeting")
    IN_QUEUE = "in_queue", _("In queue (position)")
    AGENT_ASSIGNED = "agent_assigned", _("Agent assigned")
    NO_AGENT = "no_agent", _("No agent available")
    OUT_OF_HOURS = "out_of_hours", _("Out of operating hours")
    AGENT_ENDED = "agent_ended", _("Agent ended the conversation")
    CLOSED = "closed", _("Conversation closed")
    OPTED_OUT = "opted_out", _("Customer opted out")
    HELP = "help", _("Help reply")
    ATTACHMENT_NOT_ALLOWED = "attachment_not_allowed", _("Attachment not allowed")
    OUTSIDE_WINDOW = "outside_window", _("Outside the 24-hour window (WhatsApp template)")


class AutomatedMessage(models.Model):
    """Text sent on an event, per number and language. Placeholders: {CustomerName}, {AgentName},
    {QueueName}, {Position}."""

    number = models.ForeignKey(WorkstreamNumber, on_delete=models.CASCADE, related_name="automated_messages",
                               verbose_name=_("number"))
    kind = models.CharField(max_length=32, choices=AutomatedMessageKind.choices, verbose_name=_("kind"))
    language = models.CharField(max_length=16, default="en", verbose_name=_("language"))
    text = models.TextField(blank=True, default="", verbose_name=_("text"))
    content_sid = models.CharField(
        _("template Content SID"), max_length=64, blank=True, default="",
        help_text=_("WhatsApp: an approved template to send instead of text (needed outside the 24-hour window)."))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))

    class Meta:
        verbose_name = _("automated message")
        verbose_name_plural = _("automated messages")
        ordering = ["number", "kind", "language"]
        constraints = [models.UniqueConstraint(fields=["number", "kind", "language"],
                                               name="workstreams_automated_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"

    def clean(self):
        if not self.text and not self.content_sid:
            raise ValidationError(gettext("Enter the text (or, for WhatsApp, a template Content SID)."))


class WhatsAppTemplate(models.Model):
    """An approved WhatsApp template: the only thing an agent can send outside the 24-hour window."""

    number = models.ForeignKey(WorkstreamNumber, on_delete=models.CASCADE, related_name="templates",
                               verbose_name=_("number"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    language = models.CharField(max_length=16, default="en", verbose_name=_("language"))
    text = models.TextField(help_text=_("The approved text, copied from Twilio; {{1}}, {{2}} … are its variables."),
                            verbose_name=_("text"))
    content_sid = models.CharField(_("Content SID"), max_length=64, help_text=_("HX followed by 32 hex characters."))

    class Meta:
        verbose_name = _("WhatsApp template")
        verbose_name_plural = _("WhatsApp templates")
        ordering = ["number", "name", "language"]
        constraints = [models.UniqueConstraint(fields=["number", "name", "language"],
                                               name="workstreams_template_once")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    def clean(self):
        import re

        if self.content_sid and not re.fullmatch(r"HX[0-9a-fA-F]{32}", self.content_sid):
            raise ValidationError({"content_sid": gettext("A Content SID is HX followed by 32 hex characters.")})


class RoutingRule(models.Model):
    """In order, the first rule whose conditions all hold chooses the queue."""

    workstream = models.ForeignKey(Workstream, on_delete=models.CASCADE, related_name="rules",
                                   verbose_name=_("workstream"))
    order = models.PositiveIntegerField(default=0, verbose_name=_("order"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+",
                              help_text=_("Where matching conversations go; with a percentage split, the split "
                                          "chooses among its queues instead."), verbose_name=_("queue"))
    required_skills = models.ManyToManyField(Skill, blank=True, related_name="+",
                                             help_text=_("Agents with these skills are preferred or required, as the "
                                                         "queue's skill matching says."),
                                             verbose_name=_("required skills"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["workstream", "order", "id"]

    def __str__(self) -> str:
        return f"{self.order}. {self.name} → {self.queue}"


class ConditionField(models.TextChoices):
    CONTACT_PHONE = "contact_phone", _("Customer: phone number")
    CONTACT_COUNTRY = "contact_country", _("Customer: country (ISO code from the number or WhatsApp user ID)")
    CONTACT_LOCALE = "contact_locale", _("Customer: locale")
    CONTACT_NAME = "contact_name", _("Customer: name")
    CONTACT_CONSENT = "contact_consent", _("Customer: consent (opted_in / opted_out)")
    CHANNEL_NUMBER = "channel_number", _("Channel: our number")
    CHANNEL_PROVIDER = "channel_provider", _("Channel: provider")
    CHANNEL_TYPE = "channel_type", _("Channel: type (sms / whatsapp)")
    MESSAGE_TEXT = "message_text", _("First message: text")
    MESSAGE_BUTTON = "message_button", _("First message: payload of the WhatsApp button tapped")
    QUEUE_OPEN = "queue_open", _("Time: queue (named in value) is within operating hours")
    QUEUE_CLOSED = "queue_closed", _("Time: queue (named in value) is outside operating hours")


class ConditionOperator(models.TextChoices):
    EQUALS = "equals", _("equals")
    NOT_EQUALS = "not_equals", _("does not equal")
    CONTAINS = "contains", _("contains")
    STARTS_WITH = "starts_with", _("starts with")
    IN = "in", _("is one of (comma-separated)")
    REGEX = "regex", _("matches regular expression")
    KEYWORD = "keyword", _("has the word")
    IS = "is", _("holds (time conditions)")


#: A routing rule splits its conversations over at most this many queues.
MAX_SPLIT_QUEUES = 5


class RoutingSplit(models.Model):
    """One queue of a rule's percentage split: the rule sends this share of its conversations here."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="splits", verbose_name=_("rule"))
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+", verbose_name=_("queue"),
                              help_text=_("One of the queues the rule splits over (each queue once)."))
    percentage = models.PositiveSmallIntegerField(
        _("percentage"), validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Share of the rule's conversations sent to this queue (1 to 100). The rule's shares add up to "
                    "100; the same customer on the same number always lands in the same queue."))

    class Meta:
        verbose_name_plural = _("percentage splits")
        ordering = ["rule", "id"]
        verbose_name = _("percentage split")
        constraints = [models.UniqueConstraint(fields=["rule", "queue"], name="workstreams_split_queue_once")]

    def __str__(self) -> str:
        return f"{self.percentage}% → {self.queue}"


class OverflowCondition(models.TextChoices):
    WORK_ITEM_LIMIT = "work_item_limit", _("More conversations waiting than the work-item limit")
    WAIT_TIME = "wait_time", _("Waiting longer than the threshold")
    OUT_OF_HOURS = "out_of_hours", _("Outside the queue's operating hours")


class OverflowAction(models.TextChoices):
    TRANSFER = "transfer", _("Transfer to another queue")
    END = "end", _("End the conversation with an automated message")
    ASSIGN_ANYWAY = "assign_anyway", _("Assign anyway (keep it in this queue)")


class OverflowRule(models.Model):
    """What a queue does with a conversation it cannot serve well: checked when a conversation is routed to the
    queue and by the periodic assignment cycle, in order; the first rule whose condition holds acts."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="overflow_rules",
                              help_text=_("The queue whose conversations this rule watches."), verbose_name=_("queue"))
    order = models.PositiveIntegerField(_("order"), default=0, help_text=_("Lower numbers are checked first."))
    condition = models.CharField(_("condition"), max_length=20, choices=OverflowCondition.choices,
                                 help_text=_("When the rule acts."))
    work_item_limit = models.PositiveIntegerField(
        _("work-item limit"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Work-item limit: how many conversations may wait in the queue; the ones beyond it overflow."))
    wait_threshold = models.DurationField(
        _("waiting threshold"), null=True, blank=True,
        help_text=_("Waiting time: a conversation waiting longer than this overflows, e.g. 00:05:00 for five "
                    "minutes."))
    action = models.CharField(_("action"), max_length=20, choices=OverflowAction.choices,
                              help_text=_("What happens to the conversation."))
    target_queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("to queue"),
        help_text=_("Transfer: the queue the conversation moves to (it waits there from the moment it moves)."))
    message = models.TextField(
        _("automated message"), blank=True, default="",
        help_text=_("End: sent to the customer before the conversation is closed. Placeholders: {CustomerName}, "
                    "{QueueName}."))
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Inactive rules are not checked."))

    class Meta:
        verbose_name_plural = _("overflow rules")
        ordering = ["queue", "order", "id"]
        verbose_name = _("overflow rule")

    def __str__(self) -> str:
        return f"{self.get_condition_display()} → {self.get_action_display()}"

    def clean(self):
        errors = {}
        if self.condition == OverflowCondition.WORK_ITEM_LIMIT and not self.work_item_limit:
            errors["work_item_limit"] = _("Enter how many conversations may wait before this rule acts.")
        if self.condition == OverflowCondition.WAIT_TIME:
            if not self.wait_threshold:
                errors["wait_threshold"] = _("Enter how long a conversation may wait before this rule acts.")
            elif self.wait_threshold.total_seconds() <= 0:
                errors["wait_threshold"] = _("The waiting threshold must be longer than zero.")
        if self.action == OverflowAction.TRANSFER:
            if not self.target_queue_id:
                errors["target_queue"] = _("Choose the queue the conversation is transferred to.")
            elif self.target_queue_id == self.queue_id:
                errors["target_queue"] = _("A queue cannot overflow into itself: choose another queue.")
        if self.action == OverflowAction.END and not self.message.strip():
            errors["message"] = _("Enter the message the customer is sent when the conversation is ended.")
        if errors:
            raise ValidationError(errors)


class RoutingCondition(models.Model):
    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="conditions", verbose_name=_("rule"))
    field = models.CharField(max_length=32, choices=ConditionField.choices, verbose_name=_("field"))
    operator = models.CharField(max_length=16, choices=ConditionOperator.choices, default=ConditionOperator.EQUALS,
                                verbose_name=_("operator"))
    value = models.CharField(max_length=300, blank=True, default="",
                             help_text=_("Compared without regard to case. Time conditions: the queue's name."),
                             verbose_name=_("value"))

    class Meta:
        verbose_name = _("routing condition")
        verbose_name_plural = _("routing conditions")

    def __str__(self) -> str:
        return f"{self.get_field_display()} {self.get_operator_display()} {self.value!r}"


class ConversationState(models.TextChoices):
    OPEN = "open", _("Open (waiting in a queue)")
    ACTIVE = "active", _("Active (with an agent)")
    WAITING = "waiting", _("Waiting (agent stepped away)")
    WRAP_UP = "wrap_up", _("Wrap-up (ended)")
    CLOSED = "closed", _("Closed")


LIVE_STATES = (ConversationState.OPEN, ConversationState.ACTIVE, ConversationState.WAITING)


class ConversationOutcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    NOT_RESOLVED = "not_resolved", _("Not resolved")
    FOLLOW_UP = "follow_up", _("Needs a follow-up")
    NO_REPLY = "no_reply", _("Customer stopped answering")


class Conversation(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations",
                                verbose_name=_("contact"))
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="conversations",
                                     verbose_name=_("phone number"))
    workstream = models.ForeignKey(Workstream, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="conversations", verbose_name=_("workstream"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.OPEN,
                             db_index=True, verbose_name=_("state"))
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations",
                              verbose_name=_("queue"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="conversations", verbose_name=_("agent"))
    required_skills = models.ManyToManyField(Skill, blank=True, related_name="+", verbose_name=_("required skills"))
    with_bot = models.BooleanField(default=False, help_text=_("A bot is handling it; agents get it on escalation."),
                                   verbose_name=_("with bot"))
    resolved = models.BooleanField(default=False, help_text=_("Set when an agent ends the conversation."),
                                   verbose_name=_("resolved"))
    outcome = models.CharField(_("outcome"), max_length=16, blank=True, default="",
                               choices=ConversationOutcome.choices,
                               help_text=_("Chosen by the agent when ending the conversation."))
    case = models.ForeignKey("Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations",
                             help_text=_("The support case this conversation is about."), verbose_name=_("case"))
    language = models.CharField(max_length=16, blank=True, default="", verbose_name=_("language"))
    routing_diagnosis = models.JSONField(default=dict, blank=True, verbose_name=_("routing diagnosis"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    queued_at = models.DateTimeField(null=True, blank=True, help_text=_("When it last entered its queue."),
                                     verbose_name=_("queued at"))
    assigned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("assigned at"))
    # Milestones for the reports (wait, first-response and handle time): each set once, the first time.
    first_queued_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When it first waited in a queue for an agent (after its bot, if it had one)."),
        verbose_name=_("first queued at"))
    first_assigned_at = models.DateTimeField(null=True, blank=True, editable=False,
                                             help_text=_("When an agent first had it."),
                                             verbose_name=_("first assigned at"))
    first_response_at = models.DateTimeField(null=True, blank=True, editable=False,
                                             help_text=_("When an agent first answered the customer."),
                                             verbose_name=_("first response at"))
    last_message_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last message at"))
    last_inbound_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last inbound at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at", "-id"]
        permissions = [
            # Scoped: a supervisor acts only in the queues and workstreams that list them as supervisors.
            ("supervise_conversation", "Can supervise conversations"),
            ("manage_all_conversations", "Can see and act on every conversation (administrator)"),
        ]
        constraints = [
            # At most one conversation that is not closed per customer and number: concurrent
            # inbound messages cannot open two.
            models.UniqueConstraint(fields=["contact", "phone_number"], condition=~Q(state="closed"),
                                    name="workstreams_one_live_conversation"),
        ]
        indexes = [models.Index(fields=["state", "queue", "queued_at"], name="workstreams_conv_queue")]

    def __str__(self) -> str:
        return gettext("#%(id)s %(contact)s on %(number)s (%(state)s)") % {
            "id": self.pk, "contact": self.contact, "number": self.phone_number.number,
            "state": self.get_state_display()}


class OfferState(models.TextChoices):
    PENDING = "pending", _("Waiting for the agent")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Timed out")
    WITHDRAWN = "withdrawn", _("Withdrawn (someone else took it)")


class Offer(models.Model):
    """A conversation offered to one agent, who accepts or declines it before ``expires_at``.

    While an offer is pending, the conversation stays in its queue and the offer holds the agent's capacity.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="offers",
                                     help_text=_("The conversation offered."), verbose_name=_("conversation"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers",
                              help_text=_("The agent it is offered to."), verbose_name=_("agent"))
    state = models.CharField(max_length=16, choices=OfferState.choices, default=OfferState.PENDING,
                             help_text=_("Pending until the agent answers, the time is up or someone else takes "
                                         "the conversation."), verbose_name=_("state"))
    cost = models.PositiveIntegerField(help_text=_("Capacity units the offer holds while it is pending."),
                                       verbose_name=_("cost"))
    created_at = models.DateTimeField(default=timezone.now, help_text=_("When the offer was made."),
                                      verbose_name=_("created at"))
    expires_at = models.DateTimeField(help_text=_("When the offer times out and goes to the next agent."),
                                      verbose_name=_("expires at"))
    answered_at = models.DateTimeField(null=True, blank=True,
                                       help_text=_("When it was accepted, declined, timed out or withdrawn."),
                                       verbose_name=_("answered at"))

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One pending offer per conversation: two cycles cannot offer it to two agents at once.
            models.UniqueConstraint(fields=["conversation"], condition=Q(state="pending"),
                                    name="workstreams_one_pending_offer"),
        ]
        indexes = [models.Index(fields=["state", "expires_at"], name="workstreams_offer_due"),
                   models.Index(fields=["agent", "state"], name="workstreams_offer_agent")]

    def __str__(self) -> str:
        return f"#{self.conversation_id} → {self.agent} ({self.get_state_display()})"


class ConversationMessage(models.Model):
    """Links a wire-level message to the conversation it belongs to."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="entries",
                                     verbose_name=_("conversation"))
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="conversation_link",
                                   verbose_name=_("message"))

    class Meta:
        verbose_name = _("conversation message")
        verbose_name_plural = _("conversation messages")
        ordering = ["message__created_at", "message_id"]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.message_id}"


class CaseStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("Resolved")
    CANCELLED = "cancelled", _("Cancelled")


class Case(models.Model):
    """A support case about a customer; creating one can fire outbound messages ("your case was created")."""

    title = models.CharField(max_length=200, verbose_name=_("title"))
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="cases", verbose_name=_("contact"))
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.ACTIVE,
                              verbose_name=_("status"))
    description = models.TextField(blank=True, default="", verbose_name=_("description"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.contact})"


class QuickReply(models.Model):
    """A saved answer agents insert by typing ``/`` in the console's reply box.

    Placeholders are filled in for the conversation at hand: {CustomerName}, {CustomerNumber},
    {AgentName}, {QueueName}, {ConversationId}.
    """

    title = models.CharField(max_length=100, help_text=_("What agents type after / to find it, e.g. 'Opening hours'."),
                             verbose_name=_("title"))
    text = models.TextField(help_text=_("The answer. Placeholders: {CustomerName}, {CustomerNumber}, {AgentName}, "
                                        "{QueueName}, {ConversationId}."), verbose_name=_("text"))
    language = models.CharField(max_length=16, blank=True, default="",
                                help_text=_("e.g. en or pt-BR. Empty: any language. Replies in the conversation's "
                                            "language are listed first."), verbose_name=_("language"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("quick reply")
        verbose_name_plural = _("quick replies")
        ordering = ["title", "language"]
        constraints = [models.UniqueConstraint(fields=["title", "language"], name="workstreams_quick_reply_once")]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})" if self.language else self.title


class ConversationRead(models.Model):
    """How far an agent has read a conversation: the console's unread markers."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("user"))
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads",
                                     verbose_name=_("conversation"))
    last_message_id = models.PositiveBigIntegerField(default=0, help_text=_("The newest message the agent has seen."),
                                                     verbose_name=_("last message id"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("conversation read")
        verbose_name_plural = _("conversation reads")
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="workstreams_read_once")]

    def __str__(self) -> str:
        return gettext("%(user)s read #%(conversation)s up to %(message)s") % {
            "user": self.user, "conversation": self.conversation_id, "message": self.last_message_id}


class ConversationNote(models.Model):
    """An internal note on a conversation: agents and supervisors read it, the customer never does (it is not a
    message and no provider ever sees it)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes",
                                     verbose_name=_("conversation"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    body = models.TextField(_("note"))
    is_wrap_up = models.BooleanField(default=False, help_text=_("Written when the conversation was ended."),
                                     verbose_name=_("is wrap up"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("conversation note")
        verbose_name_plural = _("conversation notes")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return gettext("Note on #%(conversation)s by %(author)s") % {"conversation": self.conversation_id,
                                                              "author": self.author}


class ConversationConsult(models.Model):
    """Another agent invited to read a conversation and add notes, without taking it or any capacity."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="consults",
                                     verbose_name=_("conversation"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consults",
                              verbose_name=_("agent"))
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("invited by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))

    class Meta:
        verbose_name = _("conversation consult")
        verbose_name_plural = _("conversation consults")
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["conversation", "agent"], condition=Q(ended_at__isnull=True),
                                               name="workstreams_one_open_consult")]

    def __str__(self) -> str:
        return gettext("%(agent)s consulted on #%(conversation)s") % {"agent": self.agent,
                                                              "conversation": self.conversation_id}
