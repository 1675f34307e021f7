"""Events higher apps may react to (they import workstreams; workstreams never imports them)."""

from django.dispatch import Signal

#: Sent inside the transaction that creates a case, with ``case``. Receivers that fail roll the case back.
case_created = Signal()
