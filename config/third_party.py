"""The admin's words that come from libraries: the names of django-axes' and django-celery-beat's models and
apps, and the captions of the admin index's tables that Django's own Simplified Chinese catalogue lacks. The
libraries mark them for translation but carry no catalogue for some of our languages; listed here, they are
extracted into ours (``make messages``), and Django, which reads the project's catalogues first, shows them
translated."""

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

#: django-axes (axes/models.py) and django-celery-beat (django_celery_beat/models.py, apps.py), as they spell them.
LIBRARY_NAMES = [
    gettext_noop("access attempt"), gettext_noop("access attempts"), gettext_noop("access failure"),
    gettext_noop("access failures"), gettext_noop("access log"), gettext_noop("access logs"),
    gettext_noop("access attempt expiration"), gettext_noop("access attempt expirations"),
    gettext_noop("Periodic Tasks"), gettext_noop("solar event"), gettext_noop("solar events"),
    gettext_noop("interval"), gettext_noop("intervals"), gettext_noop("clocked"), gettext_noop("crontab"),
    gettext_noop("crontabs"), gettext_noop("periodic task"), gettext_noop("periodic tasks"),
    gettext_noop("periodic task track"), gettext_noop("periodic task tracks"),
    # django/contrib/admin/templates/admin/app_list.html
    gettext_noop("Model name"), gettext_noop("Add link"), gettext_noop("Change or view list link"),
]


class AxesConfig(AxesAppConfig):
    """django-axes, with a name the admin can show in every language (the library's is its label, "Axes")."""

    verbose_name = _("Sign-in throttling")
