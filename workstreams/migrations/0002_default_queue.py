from django.db import migrations


def create_default_queue(apps, schema_editor):
    Queue = apps.get_model("workstreams", "Queue")
    if not Queue.objects.filter(is_default=True).exists():
        Queue.objects.create(name="Default queue", priority=0, is_default=True)


class Migration(migrations.Migration):
    dependencies = [("workstreams", "0001_initial")]

    operations = [migrations.RunPython(create_default_queue, migrations.RunPython.noop)]
