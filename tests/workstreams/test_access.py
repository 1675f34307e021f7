"""workstreams.services.access: roles, the SQL filters every list uses, and the admin that asks it too."""

import pytest
from django.contrib.auth.models import Group, Permission

from workstreams.models import Conversation, ConversationState
from workstreams.services import access
from workstreams.services.access import Action


def test_visibility_is_one_sql_filter_whatever_the_number_of_conversations(access_world, django_assert_max_num_queries):
    ana = access_world.users["agent-owner"]
    first = access_world.conversation("active")
    with django_assert_max_num_queries(4) as few:  # roles (profile, permissions) and the list itself
        assert list(access.conversations_visible_to(ana).values_list("pk", flat=True)) == [first.pk]
    Conversation.objects.filter(pk=first.pk).update(state=ConversationState.CLOSED)
    for _ in range(5):
        c = access_world.conversation("active")
        Conversation.objects.filter(pk=c.pk).update(state=ConversationState.CLOSED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert access.conversations_visible_to(ana).count() == 6
    assert "SELECT" in str(access.conversations_visible_to(ana).query)  # filtered by the database, not in Python


def test_one_conversation_is_decided_with_one_query_for_its_scopes(access_world, django_assert_max_num_queries):
    conversation = access_world.conversation("active")
    sue = access_world.users["supervisor-of-queue"]
    access.user_roles(sue)  # warm the permission cache
    with django_assert_max_num_queries(2):  # the profile check, then every scope at once
        decision = access.conversation_access(sue, conversation)
    assert decision.allowed == {Action.READ, Action.TRANSFER, Action.REASSIGN, Action.FORCE_CLOSE, Action.NOTE,
                                Action.CONSULT, Action.CASE}


def test_the_administrator_permission_is_enough_without_being_a_superuser(access_world, django_user_model):
    conversation = access_world.conversation("active")
    lead = django_user_model.objects.create_user("lead", is_staff=True)
    lead.user_permissions.add(Permission.objects.get(codename="manage_all_conversations"))
    assert access.conversation_access(lead, conversation).allowed == set(Action)
    assert set(access.queues_visible_to(lead).values_list("name", flat=True)) == {"Support", "Billing",
                                                                                  "Default queue"}


@pytest.mark.parametrize("change", ["inactive", "not_staff"])
def test_inactive_or_non_staff_users_see_nothing(access_world, change):
    conversation = access_world.conversation("active")
    root = access_world.users["admin"]
    setattr(root, "is_active" if change == "inactive" else "is_staff", False)
    assert not access.conversations_visible_to(root).exists()
    assert not access.conversation_can(root, Action.READ, conversation)


def test_an_agent_without_the_change_permission_reads_but_does_not_act(access_world):
    conversation = access_world.conversation("active")
    ana = access_world.users["agent-owner"]
    ana.user_permissions.remove(Permission.objects.get(codename="change_conversation"))
    ana = type(ana).objects.get(pk=ana.pk)  # permissions are cached per instance
    decision = access.conversation_access(ana, conversation)
    assert decision.allowed == {Action.READ}
    assert decision.refusal(Action.REPLY).code == "permission_denied"
    with pytest.raises(access.AccessRefused) as refused:
        access.agent_work_require(ana)
    assert refused.value.http_status == 403


def test_an_administrator_is_still_bound_by_the_rules_of_the_work(access_world):
    """Taking work for oneself needs an agent profile in the conversation's queue, administrator or not."""
    from config.exceptions import ServiceError
    from workstreams.services import conversation_take

    conversation = access_world.conversation("open")
    root = access_world.users["admin"]
    assert access.conversation_can(root, Action.TAKE, conversation)
    with pytest.raises(ServiceError) as refused:
        conversation_take(conversation=conversation, user=root)
    assert refused.value.code == "not_in_queue"


def test_the_supervisors_group_holds_the_permissions(db):
    from importlib import import_module

    from django.apps import apps

    group = Group.objects.get(name="Supervisors")
    assert set(group.permissions.values_list("codename", flat=True)) == {"supervise_conversation",
                                                                          "view_conversation"}
    group.delete()
    import_module("workstreams.migrations.0008_supervisors_group").create_supervisors_group(apps, None)
    assert Group.objects.get(name="Supervisors").permissions.count() == 2
    # Run against the project's own registry, it leaves the app as it found it (post_migrate needs it).
    assert apps.get_app_config("workstreams").models_module is not None


# --- The admin asks the same module ----------------------------------------------------------------


def test_the_admin_conversation_list_shows_an_agent_only_their_reach(client, access_world):
    mine = access_world.conversation("active")
    Conversation.objects.filter(pk=mine.pk).update(state=ConversationState.CLOSED)
    theirs = access_world.conversation("active")
    Conversation.objects.filter(pk=theirs.pk).update(agent=access_world.tom, contact=_other_contact())
    client.force_login(access_world.users["agent-owner"])
    page = client.get("/admin/workstreams/conversation/").content.decode()
    assert f"/admin/workstreams/conversation/{mine.pk}/change/" in page
    assert f"/admin/workstreams/conversation/{theirs.pk}/change/" not in page
    assert client.get(f"/admin/workstreams/conversation/{theirs.pk}/change/").status_code == 302  # "doesn't exist"


def _other_contact():
    from channels_app.services.inbound import contact_for

    return contact_for("+15559870000")


def test_admin_actions_ask_access_for_each_conversation(client, access_world):
    conversation = access_world.conversation("active")
    ana = access_world.users["agent-owner"]
    client.force_login(ana)
    response = client.post("/admin/workstreams/conversation/", {
        "action": "close_conversations", "_selected_action": [conversation.pk]}, follow=True)
    assert "Only a supervisor of this conversation" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ACTIVE
    client.force_login(access_world.users["admin"])
    client.post("/admin/workstreams/conversation/", {"action": "close_conversations",
                                                     "_selected_action": [conversation.pk]})
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CLOSED
    assert conversation.routing_diagnosis["closed"] == "force-closed by root"


def test_the_supervisors_field_offers_only_staff_who_may_supervise(client, access_world):
    client.force_login(access_world.users["admin"])
    page = client.get(f"/admin/workstreams/queue/{access_world.support.pk}/change/").content.decode()
    field = page[page.index('name="supervisors"'):]
    field = field[:field.index("</select>")]
    offered = {name for name in ("sue", "eli", "ana", "root", "nora") if f">{name}</option>" in field}
    assert offered == {"sue", "eli", "root"}  # the two Supervisors, and the superuser
    assert "Supervision" in client.get(f"/admin/workstreams/workstream/{access_world.workstream.pk}/change/") \
        .content.decode()


def test_force_close_refuses_a_nul_in_the_reason_from_any_caller(access_world):
    from config.exceptions import ServiceError
    from workstreams.services import conversation_force_close

    conversation = access_world.conversation("active")
    with pytest.raises(ServiceError) as refused:
        conversation_force_close(conversation=conversation, by=access_world.users["admin"], reason="a\x00b")
    assert refused.value.field == "reason"
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ACTIVE
