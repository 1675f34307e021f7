from django.urls import path

from .views import OutboundRequestCreateView, OutboundRequestDetailView

urlpatterns = [
    path("outbound/requests/", OutboundRequestCreateView.as_view(), name="outbound-request-list"),
    path("outbound/requests/<uuid:request_id>/", OutboundRequestDetailView.as_view(), name="outbound-request-detail"),
]
