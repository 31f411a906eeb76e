"""Reading JSON that a person may have edited, damaged or crafted, with one error per failure.

json.loads raises ValueError on text that is not JSON (and on an integer of more than 4,300
digits) but RecursionError on deep nesting: one line of 200,000 "[" is enough. Every reader of a
JSON file or line goes through `parse_json` (or catches JSON_ERRORS when it skips bad lines), so
each failure becomes one message that names the file and the fix instead of a traceback.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from gptlab.errors import DataError, GptlabError

JSON_ERRORS: tuple[type[Exception], ...] = (ValueError, RecursionError)
"""What json.loads raises on text it cannot turn into a Python value (UnicodeDecodeError, a
ValueError, is included: bytes that are not UTF-8 are not JSON text either)."""


def parse_json(text: str, source: str, *, fix: str, error: type[GptlabError] = DataError) -> Any:
    """json.loads(text), or `error` saying "{source} is not valid JSON (why). {fix}"."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise error(
            f"{source} is not valid JSON (it nests lists or objects too deeply to read). {fix}"
        ) from exc
    except json.JSONDecodeError as exc:
        where = (
            f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
        )
        raise error(f"{source} is not valid JSON ({exc.msg}, {where}). {fix}") from exc
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise error(f"{source} is not valid JSON ({exc}). {fix}") from exc


def read_json_file(path: Path, *, fix: str, error: type[GptlabError] = DataError) -> Any:
    """The JSON value in a UTF-8 file; `error` naming the file when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text ({exc.reason}), so it is not JSON. {fix}") from exc
    except OSError as exc:
        raise error(f"Cannot read {path}: {exc.strerror or exc}. {fix}") from exc
    return parse_json(text, str(path), fix=fix, error=error)


def is_whole_number(value: object) -> TypeGuard[int | float]:
    """An int (not a bool), or a finite float with no fraction: a count or step read from JSON."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()
