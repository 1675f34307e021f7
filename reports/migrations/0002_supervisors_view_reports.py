"""Supervisors read the reports of what they supervise: the Supervisors group gets *Can view reports*."""

from django.db import migrations

GROUP = "Supervisors"


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("reports")
    previous = getattr(config, "models_module", None)
    config.models_module = previous or True  # a migration's app stub has none; create_permissions skips those
    try:
        create_permissions(config, apps=apps, verbosity=0)
    finally:
        config.models_module = previous
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.add(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="reports", codename="view_reports"))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="reports", codename="view_reports"))


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("workstreams", "0008_supervisors_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
