from rest_framework.routers import DefaultRouter

from .views import AgentMeViewSet, ConversationViewSet, QueueViewSet

router = DefaultRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("agents", AgentMeViewSet, basename="agent")
router.register("queues", QueueViewSet, basename="queue")

urlpatterns = router.urls
