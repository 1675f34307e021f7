from django.db import migrations, models


def copy_content_type(apps, schema_editor):
    """Events stored before keep their Content-Type (the only header ever kept)."""
    InboundEvent = apps.get_model("channels_app", "InboundEvent")
    for event in InboundEvent.objects.exclude(headers={}).only("pk", "headers").iterator(chunk_size=2000):
        value = (event.headers or {}).get("content-type", "")
        if value:
            InboundEvent.objects.filter(pk=event.pk).update(content_type=value[:255])


def copy_back(apps, schema_editor):
    InboundEvent = apps.get_model("channels_app", "InboundEvent")
    for event in InboundEvent.objects.exclude(content_type="").only("pk", "content_type").iterator(chunk_size=2000):
        InboundEvent.objects.filter(pk=event.pk).update(headers={"content-type": event.content_type})


class Migration(migrations.Migration):

    dependencies = [
        ("channels_app", "0003_inbound_event_lean"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundevent",
            name="content_type",
            field=models.CharField(blank=True, default="", help_text="The request's Content-Type header.",
                                   max_length=255),
        ),
        migrations.RunPython(copy_content_type, copy_back),
        migrations.RemoveField(
            model_name="inboundevent",
            name="headers",
        ),
    ]
