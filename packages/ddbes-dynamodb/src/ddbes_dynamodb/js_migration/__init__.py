"""Migrating tables of the JavaScript ddbes (0.20 to 0.25) into ddbes tables.

::

    from ddbes_dynamodb import migrate_js

    report = migrate_js("ddbes-js", "ddbes", endpoint_url="http://127.0.0.1:8000")
    print("\\n".join(report.lines()))

The modules: ``_format`` (the JavaScript items), ``_source`` (reading them), ``_plan`` (what
goes where, and what is wrong), ``_writer`` (resumable chunked transactions), ``_verify``,
``_report``; ``docs/migrating-from-js.md`` is the guide.
"""

from ddbes_dynamodb.js_migration._format import JS_TABLE_MESSAGE, is_js_key_schema
from ddbes_dynamodb.js_migration._migrate import MigrationProgress, migrate_js
from ddbes_dynamodb.js_migration._plan import BadCommit, LeakedKey, RaisedTime, VersionGap
from ddbes_dynamodb.js_migration._report import (
    MigrationFailed,
    MigrationRefused,
    MigrationReport,
    VerificationFailed,
)
from ddbes_dynamodb.js_migration._writer import MigrationConflict

__all__ = [
    "JS_TABLE_MESSAGE",
    "BadCommit",
    "LeakedKey",
    "MigrationConflict",
    "MigrationFailed",
    "MigrationProgress",
    "MigrationRefused",
    "MigrationReport",
    "RaisedTime",
    "VerificationFailed",
    "VersionGap",
    "is_js_key_schema",
    "migrate_js",
]
