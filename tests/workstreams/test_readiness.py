"""A user made ready to answer: an Available agent in the default queue; a workstream for each number."""

from __future__ import annotations

from workstreams.models import AgentProfile, Presence, Queue, WorkstreamNumber
from workstreams.services.readiness import agent_make_ready, workstreams_for_numbers


def test_a_user_becomes_an_available_agent_in_the_default_queue(db, django_user_model):
    user = django_user_model.objects.create_user("demo")
    profile, created = agent_make_ready(user=user)
    assert created and profile.presence == Presence.AVAILABLE
    assert Queue.objects.get(is_default=True).members.filter(pk=user.pk).exists()
    profile.presence = Presence.AWAY
    profile.save()
    again, created = agent_make_ready(user=user)
    assert not created and again.presence == Presence.AWAY  # an agent's own choice is kept


def test_each_number_without_a_workstream_gets_one_once(db, sandbox_account, twilio_whatsapp_account):
    numbers = [sandbox_account.numbers.get(), twilio_whatsapp_account.numbers.get()]
    created = workstreams_for_numbers(numbers=numbers)
    assert sorted(w.channel for w in created) == ["sms", "whatsapp"]
    assert WorkstreamNumber.objects.count() == 2
    assert workstreams_for_numbers(numbers=numbers) == []
    assert AgentProfile.objects.count() == 0
