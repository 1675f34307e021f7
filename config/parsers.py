"""The API's JSON parser: DRF's, with the nesting bounded (kept apart from config/api.py, which DRF's settings
would import half-way through loading config/exceptions.py)."""

from __future__ import annotations

import io
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.inputs import JSON_MAX_DEPTH, json_depth_exceeds


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing with a 400 a body nested deeper than JSON_MAX_DEPTH levels (Python's parser
    would recurse until RecursionError)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        body = stream.read() if stream is not None else b""
        if json_depth_exceeds(body):
            raise ParseError(f"JSON parse error - the body nests JSON deeper than {JSON_MAX_DEPTH} levels.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
