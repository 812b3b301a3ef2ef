"""Every JSON document a command prints is the one ``lldbisect.report.schemas`` documents."""

from __future__ import annotations

import json
from typing import Any

from lldbisect.report.schemas import SCHEMAS

# Fields a document may leave out: the rules' per-symbol list and its cross-check come
# only with --apply.
OPTIONAL = {"lldbisect.rules/1": {"symbols", "cross_check"},
            "lldbisect.validate/1": {"tuxsuite"}}


def documented(text: str) -> Any:
    """``json.loads(text)``, failing unless its top-level fields are the documented ones."""
    doc = json.loads(text)
    schema = doc.get("schema")
    assert schema in SCHEMAS, f"undocumented schema {schema!r}"
    fields, optional = set(SCHEMAS[schema]), OPTIONAL.get(schema, set())
    assert fields - optional <= set(doc) <= fields, (
        f"{schema}: undocumented {sorted(set(doc) - fields)},"
        f" missing {sorted(fields - optional - set(doc))}")
    return doc
