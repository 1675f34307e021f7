"""sv: see config/formats/__init__.py."""

MONTH_DAY_TIME_FORMAT = r"j b H:i"
