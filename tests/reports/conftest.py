import pytest
from django.contrib.auth.models import Permission

from tests.workstreams.conftest import supervisors_group

from .world import seed_month


@pytest.fixture
def world(db, django_user_model):
    return seed_month(django_user_model)


@pytest.fixture
def report_admin(db, django_user_model):
    user = django_user_model.objects.create_user("ada", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_reports", "manage_all_conversations"]))
    return user


@pytest.fixture
def supervisor(db, django_user_model, world):
    """Sue supervises Support (and only Support); the Supervisors group gives her the report permission."""
    user = django_user_model.objects.create_user("sue", password="pw", is_staff=True)
    group = supervisors_group()
    group.permissions.add(Permission.objects.get(codename="view_reports"))
    user.groups.add(group)
    world.support.supervisors.add(user)
    return user
