from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health

admin.site.site_header = "Messaging hub"
admin.site.site_title = "Messaging hub"
admin.site.index_title = "Administration"

urlpatterns = [
    path("webhooks/", include("channels_app.urls")),  # first: the most requested URLs resolve soonest
    path("admin/", admin.site.urls),
    path("console/", include("workstreams.console.urls")),
    path("api/v1/", include("channels_app.api.urls")),
    path("api/v1/", include("workstreams.api.urls")),
    path("api/v1/", include("outbound.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
