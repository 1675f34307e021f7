from django.urls import path
from rest_framework.routers import DefaultRouter

from .trace import MessageTraceView
from .views import MessagingAccountViewSet, PhoneNumberViewSet

router = DefaultRouter(use_regex_path=False)
router.include_format_suffixes = False
router.register("accounts", MessagingAccountViewSet, basename="account")

number_list = PhoneNumberViewSet.as_view({"get": "list", "post": "create"})
number_detail = PhoneNumberViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    *router.urls,
    path("accounts/<int:account_pk>/numbers/", number_list, name="account-number-list"),
    path("accounts/<int:account_pk>/numbers/<int:pk>/", number_detail, name="account-number-detail"),
    path("messages/<int:pk>/trace/", MessageTraceView.as_view(), name="message-trace"),
]
