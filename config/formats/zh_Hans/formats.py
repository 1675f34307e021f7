"""zh_Hans: see config/formats/__init__.py."""

MONTH_DAY_TIME_FORMAT = r"n月j日 H:i"
