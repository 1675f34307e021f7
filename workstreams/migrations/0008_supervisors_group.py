"""A "Supervisors" group holding the supervise and view permissions, so that making someone a supervisor
is two clicks in the admin: add them to the group, then list them on the queues or workstreams they lead."""

from django.db import migrations

GROUP = "Supervisors"
PERMISSIONS = ["supervise_conversation", "view_conversation"]


def create_supervisors_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are otherwise created after the last migration; the group needs them now.
    config = apps.get_app_config("workstreams")
    previous = getattr(config, "models_module", None)
    config.models_module = previous or True  # a migration's app stub has none; create_permissions skips those
    try:
        create_permissions(config, apps=apps, verbosity=0)
    finally:
        config.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="workstreams",
                                                     content_type__model="conversation", codename__in=PERMISSIONS))


def remove_supervisors_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("workstreams", "0007_supervisors"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_supervisors_group, remove_supervisors_group)]
