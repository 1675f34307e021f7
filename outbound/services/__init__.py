"""Use cases of outbound messaging, one module per subject:

``templates`` (rules, localization choice, placeholders), ``configurations``, ``contacts`` (the
reference contact fields, request bodies, CSV), ``requests`` (storing a request), ``sending`` (the
worker's send and the recovery sweep), ``batches`` (lists of any size), ``schedules`` (beat),
``triggers`` (system events), ``ratelimit`` (shared counters) and ``rows`` (many rows' own values in one
UPDATE).
"""
