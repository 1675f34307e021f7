from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health, metrics

admin.site.site_header = _("Messaging hub")
admin.site.site_title = _("Messaging hub")
admin.site.index_title = _("Administration")
# "View site" leads to the agent console (the hub has no public site).
admin.site.site_url = "/console/"
# The lists get the whole width at 1400 px; the home page and the breadcrumbs lead everywhere.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("webhooks/", include("channels_app.urls")),  # first: the most requested URLs resolve soonest
    path("admin/", admin.site.urls),
    path("console/", include("workstreams.console.urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include("channels_app.api.urls")),
    path("api/v1/", include("workstreams.api.urls")),
    path("api/v1/", include("outbound.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # The language switcher posts here (it sets Django's language cookie and goes back to ``next``).
    path("i18n/setlang/", set_language, name="set_language"),
    # The console's JavaScript strings in the page's language: locale/<lang>/LC_MESSAGES/djangojs.po.
    path("i18n/js/", JavaScriptCatalog.as_view(packages=["workstreams"]), name="javascript-catalog"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
