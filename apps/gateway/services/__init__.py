"""Gateway services: placing, cancelling and settling orders; cancel-on-halt; heartbeats."""
