"""Date formats of our own, per language (``FORMAT_MODULE_PATH``); Django's formats fill in the rest.

``MONTH_DAY_TIME_FORMAT``: a moment this year, short, e.g. a message's time in the console — "May 5,
09:30" in English, "5月5日 09:30" in Japanese. Use it as ``{{ moment|date:"MONTH_DAY_TIME_FORMAT" }}``.
Every language in ``LANGUAGES`` defines it (tests/config/test_i18n.py checks).
"""
