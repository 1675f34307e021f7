"""Exporting a contact's data: a zip of contact.json and their attachment files, from the admin and a command."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_app.models import ConsentRecord
from privacy.services import contact_export

from .test_erasure import SECRET, customer  # noqa: F401 - the fixture


def unzip(data: bytes) -> tuple[dict, dict[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("contact.json")), files


def test_the_export_holds_everything_about_the_contact(customer):  # noqa: F811
    _world, contact, attachment = customer
    data, files = unzip(contact_export(contact=contact))
    assert data["contact"]["address"] == contact.address and SECRET in data["contact"]["display_name"]
    assert data["messages"][0]["body"] == f"My code is {SECRET}"
    assert data["messages"][0]["attachments"][0]["file"] == f"attachments/{attachment.pk}-photo.png"
    assert files == {f"attachments/{attachment.pk}-photo.png": f"png {SECRET}".encode()}
    assert [c["state"] for c in data["consent"]] == ["opted_out"]
    assert data["conversations"][0]["queue"] == "Support" and data["conversations"][0]["message_ids"]
    assert data["cases"][0]["title"] == f"Refund {SECRET}"
    assert data["outbound_recipients"][0]["context_items"] == {"note": SECRET}
    assert data["timeline_activities"][0]["text"] == f"Sent: {SECRET}"
    assert data["missing_files"] == []
    assert ConsentRecord.objects.filter(contact=contact).exists()


def test_the_admin_exports_and_erases_with_the_permissions(client, customer, django_user_model,  # noqa: F811
                                                           django_capture_on_commit_callbacks):
    _world, contact, _attachment = customer
    user = django_user_model.objects.create_user("ada", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "change_contact"]))
    client.force_login(user)
    page = client.get(f"/admin/channels_app/contact/{contact.pk}/change/").content.decode()
    assert "Export data (zip)" not in page and "Erase data" not in page
    assert client.get(f"/admin/channels_app/contact/{contact.pk}/export/").status_code == 403
    user.user_permissions.add(*Permission.objects.filter(codename__in=["export_contact_data", "erase_contact_data"]))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    page = client.get(f"/admin/channels_app/contact/{contact.pk}/change/").content.decode()
    assert "Export data (zip)" in page and "Erase data" in page
    response = client.get(f"/admin/channels_app/contact/{contact.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'filename="contact-{contact.pk}-' in response["Content-Disposition"]
    assert unzip(response.content)[0]["contact"]["id"] == contact.pk

    response = client.post(f"/admin/channels_app/contact/{contact.pk}/erase/", {"confirm": "+1"})
    assert response.status_code == 200 and "Type the contact&#x27;s phone number exactly" in response.content.decode()
    contact.refresh_from_db()
    assert contact.erased_at is None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/channels_app/contact/{contact.pk}/erase/", {"confirm": contact.address},
                               follow=True)
    assert "was erased" in response.content.decode()
    assert 'id="contact-erased"' in response.content.decode()
    contact.refresh_from_db()
    assert contact.erased_at is not None


def test_the_commands(customer, tmp_path, capsys):  # noqa: F811
    _world, contact, _attachment = customer
    target = tmp_path / "out.zip"
    call_command("export_contact", contact.address, "--output", str(target))
    assert unzip(target.read_bytes())[0]["contact"]["id"] == contact.pk
    assert "Wrote" in capsys.readouterr().out
    with pytest.raises(CommandError, match="There is no contact with the id or phone number “\\+1999”"):
        call_command("export_contact", "+1999")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_contact", str(contact.pk), "--output", str(tmp_path / "no" / "such" / "x.zip"))
    call_command("erase_contact", str(contact.pk), "--yes")
    contact.refresh_from_db()
    assert contact.erased_at is not None and "Erased contact" in capsys.readouterr().out
