"""en: see config/formats/__init__.py."""

MONTH_DAY_TIME_FORMAT = r"M j, H:i"
