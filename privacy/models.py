"""The privacy permissions, on a proxy of the contact (no table of its own)."""

from django.utils.translation import gettext_lazy as _

from channels_app.models import Contact


class ContactData(Contact):
    class Meta:
        proxy = True
        verbose_name = _("contact's data")
        verbose_name_plural = _("contacts' data")
        default_permissions = ()
        permissions = [("export_contact_data", _("Can export all data about a contact")),
                       ("erase_contact_data", _("Can erase a contact's data"))]
