from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        from apps.realtime import signals
        from apps.realtime.providers import providers_register_defaults

        providers_register_defaults()
        signals.connect()
