"""Database helpers: many rows in one go (``bulk``: COPY on PostgreSQL), many rows' own values in one
UPDATE (``rows``)."""
