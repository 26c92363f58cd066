"""Venue adapters: one Protocol (base.VenueAdapter), the simulated venue, ccxt venues."""
