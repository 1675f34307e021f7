"""pt_BR: see config/formats/__init__.py."""

MONTH_DAY_TIME_FORMAT = r"j \d\e b, H:i"
