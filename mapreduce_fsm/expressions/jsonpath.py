"""JSONPath (jsonpath-ng's extended dialect) for map.json_path and JSON captures."""

from __future__ import annotations

import re
import warnings
from typing import Any

from mapreduce_fsm.errors import ExpressionError, InputError

WHOLE_DOCUMENT_PATHS = ("", "$")
JSON_PATH_ERROR_POSITION = re.compile(r"(?:at 1:|col )(\d+)")


def apply_json_path(
    document: Any, json_path: str | None, *, origin: str = "the input"
) -> tuple[list[Any], list[str]]:
    """The values `json_path` selects in `document`, and warnings (a path matching nothing).

    Without a path (None, "" or "$"), a list document gives its elements and any other
    document is one value. A path whose only match is a list (`$.items`) gives its elements.
    """
    if json_path is None or json_path in WHOLE_DOCUMENT_PATHS:
        return (list(document) if isinstance(document, list) else [document]), []
    try:
        compiled = compile_json_path(json_path)
    except ExpressionError as error:
        raise ExpressionError(f"map.json_path is {error.reason}", expression=json_path,
                              column=error.column) from None
    try:
        matches = [match.value for match in compiled.find(document)]
    except NotImplementedError:
        raise InputError(
            f"map.json_path {json_path!r} uses an operator that jsonpath-ng does not implement"
            " (such as the intersection `&`)"
        ) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        # jsonpath-ng's extensions (`sorted`, sorting by a field) fail on mixed-type data.
        raise InputError(
            f"map.json_path {json_path!r} cannot be applied to {origin}: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not matches:
        return [], [f"map.json_path {json_path!r} matched nothing in {origin}"]
    if len(matches) == 1 and isinstance(matches[0], list):
        return list(matches[0]), []
    return matches, []


def compile_json_path(json_path: str) -> Any:
    """`json_path` parsed by jsonpath-ng; an ExpressionError with the column if it is invalid."""
    # Imported here: jsonpath-ng is slow to import and only workflows with a json_path need it.
    from jsonpath_ng.exceptions import JSONPathError
    from jsonpath_ng.ext.parser import parse as parse_json_path

    try:
        with warnings.catch_warnings():  # jsonpath-ng's deprecations are not the user's concern
            warnings.simplefilter("ignore", DeprecationWarning)
            return parse_json_path(json_path)
    except (JSONPathError, ValueError, TypeError) as error:
        column = _json_path_error_column(json_path, str(error))
        reason = JSON_PATH_ERROR_POSITION.sub("", str(error)) if column else str(error)
        raise ExpressionError(
            f"not valid JSONPath: {' '.join(reason.split())}",
            expression=json_path,
            column=column,
        ) from None


def _json_path_error_column(json_path: str, message: str) -> int | None:
    """jsonpath-ng reports 0-based positions ("at 1:4", "col 3"), or "near the end of string"."""
    found = JSON_PATH_ERROR_POSITION.search(message)
    if found:
        return int(found.group(1)) + 1
    return len(json_path) + 1 if "end of string" in message else None
