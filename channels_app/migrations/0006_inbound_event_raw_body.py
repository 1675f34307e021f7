# Webhook bodies are kept as the bytes that arrived: a provider may send NUL bytes or text that is not
# UTF-8, which a text column cannot hold.

from django.db import migrations, models


def text_to_bytes(apps, schema_editor):
    Event = apps.get_model("channels_app", "InboundEvent")
    table = Event._meta.db_table
    vendor = schema_editor.connection.vendor
    quote = schema_editor.quote_name
    if vendor == "postgresql":
        schema_editor.execute(f"UPDATE {quote(table)} SET {quote('raw_body')} = convert_to({quote('body')}, 'UTF8')")
    elif vendor == "sqlite":
        schema_editor.execute(f"UPDATE {quote(table)} SET {quote('raw_body')} = CAST({quote('body')} AS BLOB)")
    else:
        for pk, body in Event.objects.values_list("pk", "body").iterator():
            Event.objects.filter(pk=pk).update(raw_body=(body or "").encode("utf-8"))


def bytes_to_text(apps, schema_editor):
    Event = apps.get_model("channels_app", "InboundEvent")
    for pk, raw in Event.objects.values_list("pk", "raw_body").iterator():
        text = bytes(raw or b"").decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        Event.objects.filter(pk=pk).update(body=text)


class Migration(migrations.Migration):

    dependencies = [
        ('channels_app', '0005_account_credentials_config'),
    ]

    operations = [
        migrations.AddField(
            model_name='inboundevent',
            name='raw_body',
            field=models.BinaryField(blank=True, default=b''),
        ),
        migrations.RunPython(text_to_bytes, bytes_to_text, elidable=False),
        migrations.RemoveField(model_name='inboundevent', name='body'),
        migrations.RenameField(model_name='inboundevent', old_name='raw_body', new_name='body'),
        migrations.AlterField(
            model_name='inboundevent',
            name='body',
            field=models.BinaryField(blank=True, default=b'', help_text='The raw body; form fields are parsed from it.'),
        ),
    ]
