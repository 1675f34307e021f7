# The four credential columns become one encrypted per-account object, and the provider and number-type
# choices come from the configured provider modules (so adding a provider needs no migration).

import channels_app.fields
import channels_app.providers
from django.db import migrations, models

COLUMNS = ("customer_id", "api_key", "account_sid", "auth_token")


def columns_to_config(apps, schema_editor):
    Account = apps.get_model("channels_app", "MessagingAccount")
    for account in Account.objects.all().only("pk", *COLUMNS):
        values = {name: getattr(account, name) for name in COLUMNS if getattr(account, name)}
        if values:
            Account.objects.filter(pk=account.pk).update(config=values)


def config_to_columns(apps, schema_editor):
    Account = apps.get_model("channels_app", "MessagingAccount")
    for account in Account.objects.all().only("pk", "config"):
        values = {name: value for name, value in (account.config or {}).items() if name in COLUMNS}
        if values:
            Account.objects.filter(pk=account.pk).update(**values)


class Migration(migrations.Migration):

    dependencies = [
        ('channels_app', '0004_inbound_event_content_type'),
    ]

    operations = [
        migrations.AddField(
            model_name='messagingaccount',
            name='config',
            field=channels_app.fields.EncryptedJSONField(blank=True, default=dict, editable=False, help_text="The provider's credentials, encrypted at rest; set through the forms, never shown.", verbose_name='credentials'),
        ),
        migrations.RunPython(columns_to_config, config_to_columns, elidable=False),
        migrations.RemoveField(model_name='messagingaccount', name='account_sid'),
        migrations.RemoveField(model_name='messagingaccount', name='api_key'),
        migrations.RemoveField(model_name='messagingaccount', name='auth_token'),
        migrations.RemoveField(model_name='messagingaccount', name='customer_id'),
        # Which provider carries which channel is the provider module's to say (checked by the services).
        migrations.RemoveConstraint(
            model_name='messagingaccount',
            name='channels_account_provider_carries_channel',
        ),
        migrations.AlterField(
            model_name='message',
            name='provider',
            field=models.CharField(choices=channels_app.providers.provider_choices, editable=False, max_length=16),
        ),
        migrations.AlterField(
            model_name='messagingaccount',
            name='provider',
            field=models.CharField(choices=channels_app.providers.provider_choices, help_text="The service that carries the account's messages; which channels each carries is shown when you choose. Cannot be changed once the account exists.", max_length=16),
        ),
        migrations.AlterField(
            model_name='phonenumber',
            name='number',
            field=models.CharField(help_text="As the account's provider writes it (the form shows the format once the account exists). WhatsApp: E.164 with the leading + (+14252306549).", max_length=24),
        ),
        migrations.AlterField(
            model_name='phonenumber',
            name='number_type',
            field=models.CharField(blank=True, choices=channels_app.providers.number_type_choices, default='', help_text="SMS only: the kinds of number the account's provider offers. Not used for WhatsApp.", max_length=16, verbose_name='type'),
        ),
        migrations.AlterField(
            model_name='phonenumber',
            name='provider',
            field=models.CharField(choices=channels_app.providers.provider_choices, editable=False, max_length=16),
        ),
    ]
