from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "Order gateway"

    def ready(self) -> None:
        from apps.breakers.hooks import on_halted

        on_halted(enqueue_cancel_on_halt)

        from apps.gateway.services.metrics import order_metrics
        from apps.risk.order_metrics import register_order_metrics

        register_order_metrics(order_metrics)


def enqueue_cancel_on_halt(breaker_id: int) -> None:
    """The breakers' on_halted hook (runs after the halt commits): hand off to the task."""
    from apps.gateway.tasks import cancel_on_halt

    cancel_on_halt.delay(breaker_id)
