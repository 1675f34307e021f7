from django.urls import path

from . import inbox_views, supervisor_views, views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("updates/", views.dashboard_updates, name="dashboard-updates"),
    path("presence/", views.presence, name="presence"),
    path("pick/", views.pick_next, name="pick-next"),
    path("inbox/", inbox_views.inbox_page, name="inbox"),
    path("inbox/updates/", inbox_views.inbox_updates, name="inbox-updates"),
    path("contacts/<int:pk>/", inbox_views.contact_page, name="contact"),
    path("profile/", inbox_views.profile_create, name="profile-create"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("conversations/<int:pk>/updates/", views.conversation_updates, name="conversation-updates"),
    path("conversations/<int:pk>/reply/", views.reply, name="reply"),
    path("conversations/<int:pk>/template/", views.send_template, name="template"),
    path("conversations/<int:pk>/take/", views.take, name="take"),
    path("conversations/<int:pk>/end/", inbox_views.end, name="end"),
    path("conversations/<int:pk>/close-now/", inbox_views.close_now, name="close-now"),
    path("conversations/<int:pk>/notes/", inbox_views.note_add, name="note"),
    path("conversations/<int:pk>/consult/", inbox_views.consult_invite, name="consult"),
    path("conversations/<int:pk>/consult/leave/", inbox_views.consult_leave, name="consult-leave"),
    path("conversations/<int:pk>/case/", inbox_views.case_link, name="case"),
    path("conversations/<int:pk>/follow-up/", inbox_views.follow_up, name="follow-up"),
    path("conversations/<int:pk>/wait/", views.wait, name="wait"),
    path("conversations/<int:pk>/resume/", views.resume, name="resume"),
    path("conversations/<int:pk>/transfer/", views.transfer, name="transfer"),
    path("conversations/<int:pk>/reassign/", views.reassign, name="reassign"),
    path("conversations/<int:pk>/force-close/", views.force_close, name="force-close"),
    path("conversations/<int:pk>/messages/<int:message_id>/retry/", views.retry, name="retry"),
    path("attachments/<int:pk>/", views.attachment, name="attachment"),
    path("supervisor/", supervisor_views.supervisor, name="supervisor"),
    path("supervisor/updates/", supervisor_views.supervisor_updates, name="supervisor-updates"),
    path("supervisor/conversations/<int:pk>/reassign/", supervisor_views.supervisor_reassign,
         name="supervisor-reassign"),
    path("supervisor/conversations/<int:pk>/transfer/", supervisor_views.supervisor_transfer,
         name="supervisor-transfer"),
    path("supervisor/conversations/<int:pk>/force-close/", supervisor_views.supervisor_force_close,
         name="supervisor-force-close"),
]
