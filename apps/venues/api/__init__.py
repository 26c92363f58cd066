"""Market-data API views (see api_urls.py for the routes)."""
