import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

ALL_PERMS = (
    "view_messagingaccount", "add_messagingaccount", "change_messagingaccount", "manage_credentials",
    "view_phonenumber", "add_phonenumber", "change_phonenumber", "delete_phonenumber",
)


@pytest.fixture
def make_client(django_user_model):
    """A client logged in as a new user holding exactly ``codenames`` of channels_app."""

    def make(*codenames, username="user"):
        user = django_user_model.objects.create_user(username=username, password="pw-unused-in-tests")
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="channels_app", codename__in=codenames)
        )
        client = APIClient()
        client.force_authenticate(django_user_model.objects.get(pk=user.pk))
        return client

    return make


@pytest.fixture
def manager(make_client):
    """Holds every permission the accounts API knows, credentials included."""
    return make_client(*ALL_PERMS, username="manager")


@pytest.fixture
def operator(make_client):
    """May create and change accounts and numbers, but not set credentials."""
    return make_client(*(p for p in ALL_PERMS if p != "manage_credentials"), username="operator")
