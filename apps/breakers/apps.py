from django.apps import AppConfig


class BreakersConfig(AppConfig):
    name = "apps.breakers"
    label = "breakers"
    verbose_name = "Circuit breakers"

    def ready(self) -> None:
        from django.conf import settings

        from apps.venues.services.health import market_data_stale_changed

        def venue_staleness_changed(sender, *, venue, stale, last_good_at, **kwargs) -> None:
            # The venues app's documented contract (apps.venues.services.health): sent once per
            # fresh <-> stale transition, after commit. The periodic sweep covers lost signals.
            if not getattr(settings, "BREAKERS_AUTO_TRIP_VENUES", True):
                return
            from apps.breakers.services.venues import venue_conditions_check

            venue_conditions_check(venue=venue)

        market_data_stale_changed.connect(
            venue_staleness_changed, weak=False, dispatch_uid="breakers.venue_staleness"
        )
