from django.urls import path

from apps.gateway.api.views import CancelAllView, HeartbeatView, OrderDetailView, OrdersView

urlpatterns = [
    path("orders", OrdersView.as_view(), name="api-orders"),
    path("orders/cancel-all", CancelAllView.as_view(), name="api-orders-cancel-all"),
    # str, not uuid: a malformed id is the API's JSON 404, not Django's HTML page.
    path("orders/<str:order_id>", OrderDetailView.as_view(), name="api-order"),
    path("heartbeat", HeartbeatView.as_view(), name="api-heartbeat"),
]
