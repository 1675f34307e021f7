"""PostgreSQL, as Django's backend, with one change to bulk inserts (see ``compiler``)."""
