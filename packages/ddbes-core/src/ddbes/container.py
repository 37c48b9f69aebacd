"""The composition root: builds ddbes's stores from configuration, in one place, at startup.

This is the only module of ddbes that imports ``dependency_injector``
(``pip install "ddbes-core[container]"``); nothing in the core depends on it.

Configuration is a flat mapping (see ``docs/configuration.md``), read from, lowest first:
built-in :data:`DEFAULTS`, a TOML or JSON file, ``DDBES_*`` environment variables, and a dict::

    from ddbes.container import create_container, install

    container = create_container(file="ddbes.toml")   # also reads DDBES_* variables
    install(container)                                 # ddbes.config now holds its stores

Backends are chosen by name: ``backend`` (commits and checkpoints) is ``memory`` or
``dynamodb``; ``snapshots`` is ``off``, ``memory``, ``s3`` or ``dynamodb`` (tips in the commit
table, larger states on S3 when ``snapshots_bucket`` is set). An adapter is imported only when
its backend is selected; a missing one raises :class:`~ddbes.errors.ConfigurationError` naming
its ``pip install``. Tests override any provider::

    from dependency_injector import providers
    from ddbes.memory import InMemoryCommitStore

    with container.commit_store.override(providers.Object(InMemoryCommitStore())):
        install(container)
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

try:
    from dependency_injector import containers, providers
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise ModuleNotFoundError(
        "ddbes.container needs dependency-injector, which is not installed: "
        'pip install "ddbes-core[container]"',
        name="dependency_injector",
    ) from exc

from ddbes.clock import SystemClock
from ddbes.composition import Resources
from ddbes.errors import ConfigurationError
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.projector import Projector
from ddbes.settings import config as ddbes_config

__all__ = [
    "BACKENDS",
    "DEFAULTS",
    "ENV_PREFIX",
    "SNAPSHOT_BACKENDS",
    "Container",
    "create_container",
    "install",
    "load_configuration",
    "require_adapter",
]

BACKENDS = ("memory", "dynamodb")
"""Names of the commit and checkpoint store backends."""

SNAPSHOT_BACKENDS = ("off", "memory", "s3", "dynamodb")
"""Names of the snapshot store backends (``off``: no snapshots; ``dynamodb``: the latest snapshot
as a tip item in the commit table, so that a load is one Query; it needs ``backend = "dynamodb"``
and sends states over 64 KiB to ``snapshots_bucket`` when one is set)."""

ENV_PREFIX = "DDBES_"
"""Every configuration key ``k`` is read from the environment variable ``DDBES_<K>``."""

DEFAULTS: Mapping[str, Any] = {
    "backend": "memory",
    "checkpoints": None,
    "table_name": "ddbes",
    "log_partitions": 1,
    "endpoint_url": None,
    "s3_endpoint_url": None,
    "region_name": None,
    "snapshots": "off",
    "snapshots_bucket": None,
    "snapshots_prefix": "",
    "snapshots_frequency": 100,
    "archive_bucket": None,
    "archive_prefix": "archive",
    "timeout": None,
}
"""Every configuration key and its built-in default.

``timeout`` (seconds) bounds every call of the DynamoDB and S3 stores, retries included;
``None`` keeps the adapters' defaults (:class:`~ddbes.timeouts.Timeouts`: 20 s).

``checkpoints`` ``None`` means "the same backend as ``backend``"; ``s3_endpoint_url`` ``None``
means ``endpoint_url``; ``endpoint_url`` and ``region_name`` ``None`` leave boto3 to its own
configuration (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``, profiles).

``archive_bucket`` names the S3 bucket where ``ddbes archive run`` put archived aggregates
(under ``archive_prefix``, ``archive`` as that command's ``--prefix``): the DynamoDB commit
stores read archived commits from it. ``None``: no archive (a read of an archived commit raises
:class:`~ddbes.errors.ConfigurationError`).
"""

_INTS = ("log_partitions", "snapshots_frequency")
_CHOICES = {"backend": BACKENDS, "checkpoints": BACKENDS, "snapshots": SNAPSHOT_BACKENDS}
_FILE_SECTION = "ddbes"

_ADAPTERS = {"ddbes_dynamodb": "ddbes-dynamodb", "ddbes_s3": "ddbes-s3", "ddbes_ws": "ddbes-ws"}


def require_adapter(module: str, needed_for: str) -> ModuleType:
    """Import an adapter package, or raise a ConfigurationError that names its ``pip install``.

    Args:
        module: ``"ddbes_dynamodb"``, ``"ddbes_s3"`` or ``"ddbes_ws"``.
        needed_for: what needs it, for the message (``"backend 'dynamodb'"``).
    """
    distribution = _ADAPTERS.get(module, module.replace("_", "-"))
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        detail = "" if missing in (None, module) else f" (it cannot import {missing!r})"
        raise ConfigurationError(
            f"{needed_for} needs the {distribution} adapter, which is not installed{detail}: "
            f"pip install {distribution}"
        ) from exc


# --------------------------------------------------------------------------- configuration


def _check_choice(key: str, value: object) -> str:
    choices = _CHOICES[key]
    if value not in choices:
        raise ConfigurationError(f"unknown {key} {value!r}: choose one of {', '.join(choices)}")
    return str(value)


def _as_int(key: str, value: object, source: str) -> int:
    if isinstance(value, bool):
        raise ConfigurationError(f"{key} from {source} must be a positive integer, got {value!r}")
    try:
        number = int(value) if isinstance(value, (int, str)) else None
    except ValueError:
        number = None
    if number is None or number < 1:
        raise ConfigurationError(f"{key} from {source} must be a positive integer, got {value!r}")
    return number


def _as_seconds(key: str, value: object, source: str) -> float:
    number: float | None = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not 0 < number < float("inf"):
        raise ConfigurationError(
            f"{key} from {source} must be a positive number of seconds, got {value!r}"
        )
    return number


def _merge(target: dict[str, Any], values: Mapping[str, Any], source: str) -> None:
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(
            f"unknown configuration key(s) {', '.join(map(repr, unknown))} in {source}; "
            f"known keys: {', '.join(sorted(DEFAULTS))}"
        )
    for key, value in values.items():
        if key in _INTS and value is not None:
            target[key] = _as_int(key, value, source)
        elif key == "timeout" and value is not None:
            target[key] = _as_seconds(key, value, source)
        elif value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{key} from {source} must be a string, got {value!r}")
        else:
            target[key] = value


def _read_file(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read configuration file {str(file)!r}: {exc.strerror}"
        ) from exc
    try:
        if file.suffix.lower() == ".json":
            data: Any = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if file.suffix.lower() == ".json" else "TOML"
        raise ConfigurationError(
            f"configuration file {str(file)!r} is not valid {kind}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"configuration file {str(file)!r} must hold an object/table")
    section = data.get(_FILE_SECTION, data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"[{_FILE_SECTION}] in {str(file)!r} must be a table")
    return section


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in DEFAULTS:
        raw = environ.get(ENV_PREFIX + key.upper())
        if raw is not None and raw != "":
            values[key] = raw
    return values


def load_configuration(
    values: Mapping[str, Any] | None = None,
    *,
    file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The complete, checked configuration, merged from its sources (later ones win).

    Args:
        values: explicit settings (highest precedence). ``None`` values are ignored.
        file: a TOML file (keys at the top level or under ``[ddbes]``), or JSON if it ends
            in ``.json``. Without one, ``DDBES_CONFIG`` in ``environ`` may name one.
        environ: where ``DDBES_*`` variables are read (default: ``os.environ``; pass ``{}`` to
            ignore the environment).
        defaults: replace some of :data:`DEFAULTS` (lowest precedence).

    Raises:
        ConfigurationError: an unknown key or backend name, a malformed value, an unreadable
            file, ``snapshots = "s3"`` without a ``snapshots_bucket``,
            ``snapshots = "dynamodb"`` or an ``archive_bucket`` without
            ``backend = "dynamodb"``, or an ``endpoint_url``
            that nothing would use because ``backend`` was left at its default, ``memory``
            (set ``backend`` either way).
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(DEFAULTS)
    given = {k: v for k, v in (values or {}).items() if v is not None}
    sources: list[tuple[Mapping[str, Any], str]] = [(dict(defaults or {}), "the defaults")]
    file = file if file is not None else environ.get(ENV_PREFIX + "CONFIG") or None
    if file is not None:
        sources.append((_read_file(file), f"configuration file {str(file)!r}"))
    sources.append((_from_environ(environ), f"{ENV_PREFIX}* environment variables"))
    if given:
        sources.append((given, "the given settings"))
    for source, name in sources:
        _merge(merged, source, name)
    backend_chosen = any(source.get("backend") is not None for source, _ in sources)
    for key in _CHOICES:
        if merged[key] is not None:
            merged[key] = _check_choice(key, merged[key])
    if merged["checkpoints"] is None:
        merged["checkpoints"] = merged["backend"]
    if merged["snapshots"] == "s3" and not merged["snapshots_bucket"]:
        raise ConfigurationError(
            "snapshots = 's3' needs a bucket: set snapshots_bucket (DDBES_SNAPSHOTS_BUCKET)"
        )
    if merged["snapshots"] == "dynamodb" and merged["backend"] != "dynamodb":
        raise ConfigurationError(
            "snapshots = 'dynamodb' keeps snapshots in the commit table: it needs "
            "backend = 'dynamodb' (DDBES_BACKEND); use snapshots = 'memory' or 's3' otherwise"
        )
    if merged["archive_bucket"] and merged["backend"] != "dynamodb":
        raise ConfigurationError(
            "archive_bucket holds the aggregates `ddbes archive run` moved out of a DynamoDB "
            "table: it needs backend = 'dynamodb' (DDBES_BACKEND)"
        )
    if not backend_chosen:
        _check_unused_aws_settings(merged)
    return merged


def _check_unused_aws_settings(merged: Mapping[str, Any]) -> None:
    """``backend`` defaulted to memory, yet an endpoint that nothing uses is set: say so, rather
    than keep the commits in memory silently (``ddbes local`` prints ``DDBES_BACKEND``)."""
    uses_endpoint = "dynamodb" in (merged["checkpoints"], merged["snapshots"]) or (
        merged["snapshots"] == "s3"
    )
    if merged["endpoint_url"] and not uses_endpoint:
        raise ConfigurationError(
            f"endpoint_url ({ENV_PREFIX}ENDPOINT_URL) is {merged['endpoint_url']!r}, but backend "
            "is not set, and its default 'memory' would keep the commits in this process's "
            f"memory and ignore the endpoint: set backend = 'dynamodb' ({ENV_PREFIX}BACKEND="
            "dynamodb) to use DynamoDB there, or backend = 'memory' to keep them in memory"
        )


# --------------------------------------------------------------------------- builders


_BUILT_BY = {
    # (provider, backend): (adapter module, class, what needs it)
    ("commit_store", "dynamodb"): ("ddbes_dynamodb", "DynamoDBCommitStore", "backend 'dynamodb'"),
    ("async_commit_store", "dynamodb"): (
        "ddbes_dynamodb",
        "AsyncDynamoDBCommitStore",
        "backend 'dynamodb'",
    ),
    ("checkpoint_store", "dynamodb"): (
        "ddbes_dynamodb",
        "DynamoDBCheckpointStore",
        "checkpoints 'dynamodb'",
    ),
    ("async_checkpoint_store", "dynamodb"): (
        "ddbes_dynamodb",
        "AsyncDynamoDBCheckpointStore",
        "checkpoints 'dynamodb'",
    ),
    ("archive_store", "s3"): ("ddbes_s3", "S3ArchiveStore", "archive_bucket"),
    ("async_archive_store", "s3"): ("ddbes_s3", "AsyncS3ArchiveStore", "archive_bucket"),
    ("snapshot_store", "s3"): ("ddbes_s3", "S3SnapshotStore", "snapshots 's3'"),
    ("async_snapshot_store", "s3"): ("ddbes_s3", "AsyncS3SnapshotStore", "snapshots 's3'"),
    ("snapshot_store", "dynamodb"): (
        "ddbes_dynamodb",
        "DynamoDBSnapshotStore",
        "snapshots 'dynamodb'",
    ),
}
"""Which adapter class builds each store: the container knows nothing else of an adapter; the
class builds itself with ``from_settings`` (:mod:`ddbes.composition`)."""


def _build(
    provider: str, backend: str, settings: Mapping[str, Any], resources: Resources, **more: Any
) -> Any:
    module, name, needed_for = _BUILT_BY[(provider, backend)]
    adapter = require_adapter(module, needed_for)
    return getattr(adapter, name).from_settings(settings, resources=resources, **more)


def _archive_store(settings: Mapping[str, Any], resources: Resources, provider: str) -> Any:
    """The S3 archive of ``archive_bucket`` (``provider``: sync or async); ``None`` without
    one."""
    if not settings.get("archive_bucket"):
        return None
    return _build(provider, "s3", settings, resources)


def _tip_snapshot_store(
    settings: Mapping[str, Any], resources: Resources, commit_store: object
) -> SnapshotStore:
    overflow = None
    if settings.get("snapshots_bucket"):
        overflow = _build("snapshot_store", "s3", settings, resources)
    store: SnapshotStore = _build(
        "snapshot_store",
        "dynamodb",
        settings,
        resources,
        commit_store=commit_store,
        overflow=overflow,
    )
    return store


def _no_async(what: str, instead: str) -> None:
    raise ConfigurationError(f"{what} has no async store yet: configure snapshots {instead}")


def _async_memory(store: object, what: str) -> Any:
    """The async view of an in-memory store (same data as the sync one)."""
    as_async = getattr(store, "as_async", None)
    if as_async is None:
        raise ConfigurationError(
            f"the in-memory {what} has no async view: use backend 'dynamodb' for async stores"
        )
    return as_async()


def _event_stream_server(commit_store: CommitStore, **options: Any) -> Any:
    adapter = require_adapter("ddbes_ws", "the websocket event stream")
    return adapter.EventStreamServer(commit_store=commit_store, **options)


def _selected(key: str) -> Callable[[object], str]:
    def select(value: object) -> str:
        return _check_choice(key, value)

    return select


class Container(containers.DeclarativeContainer):
    """ddbes's providers. Build one with :func:`create_container`; see the module docstring.

    Providers: ``commit_store``, ``checkpoint_store``, ``snapshot_store`` (``None`` when
    snapshots are off), ``archive_store`` (the S3 archive of ``archive_bucket``, which the
    DynamoDB commit stores read archived commits from; ``None`` without one), their asyncio
    twins ``async_commit_store``, ``async_checkpoint_store``, ``async_snapshot_store`` and
    ``async_archive_store`` (the ``AsyncS3ArchiveStore`` the async commit store awaits; ``await
    container.async_archive_store().close()`` closes its client), ``clock``, ``logger``,
    ``resources`` (what the stores share: one DynamoDB client per app; ``await
    container.resources().aclose()`` closes the async clients), ``settings`` (the configuration
    as a dict), all singletons, and the factories ``projector`` (``container.projector(handlers,
    name=...)``) and ``event_stream_server`` (needs ddbes-ws; it takes a sync or an async commit
    store).

    Every adapter store is built by its own ``from_settings`` (:mod:`ddbes.composition`).
    """

    config = providers.Configuration(strict=True)

    clock = providers.ThreadSafeSingleton(SystemClock)
    logger = providers.Object(logging.getLogger("ddbes"))

    resources = providers.ThreadSafeSingleton(Resources)
    settings: providers.Provider[dict[str, Any]] = providers.Callable(dict, config)

    archive_store = providers.ThreadSafeSingleton(
        _archive_store, settings, resources, "archive_store"
    )
    async_archive_store = providers.ThreadSafeSingleton(
        _archive_store, settings, resources, "async_archive_store"
    )

    commit_store = providers.Selector(
        providers.Callable(_selected("backend"), config.backend),
        memory=providers.ThreadSafeSingleton(
            InMemoryCommitStore, log_partitions=config.log_partitions
        ),
        dynamodb=providers.ThreadSafeSingleton(
            _build, "commit_store", "dynamodb", settings, resources, archive=archive_store
        ),
    )

    checkpoint_store = providers.Selector(
        providers.Callable(_selected("checkpoints"), config.checkpoints),
        memory=providers.ThreadSafeSingleton(InMemoryCheckpointStore),
        dynamodb=providers.ThreadSafeSingleton(
            _build, "checkpoint_store", "dynamodb", settings, resources
        ),
    )

    snapshot_store = providers.Selector(
        providers.Callable(_selected("snapshots"), config.snapshots),
        off=providers.Object(None),
        memory=providers.ThreadSafeSingleton(InMemorySnapshotStore),
        s3=providers.ThreadSafeSingleton(_build, "snapshot_store", "s3", settings, resources),
        dynamodb=providers.ThreadSafeSingleton(
            _tip_snapshot_store, settings, resources, commit_store=commit_store
        ),
    )

    async_commit_store = providers.Selector(
        providers.Callable(_selected("backend"), config.backend),
        memory=providers.ThreadSafeSingleton(_async_memory, commit_store, "commit store"),
        dynamodb=providers.ThreadSafeSingleton(
            _build,
            "async_commit_store",
            "dynamodb",
            settings,
            resources,
            archive=async_archive_store,
        ),
    )

    async_checkpoint_store = providers.Selector(
        providers.Callable(_selected("checkpoints"), config.checkpoints),
        memory=providers.ThreadSafeSingleton(_async_memory, checkpoint_store, "checkpoint store"),
        dynamodb=providers.ThreadSafeSingleton(
            _build, "async_checkpoint_store", "dynamodb", settings, resources
        ),
    )

    async_snapshot_store = providers.Selector(
        providers.Callable(_selected("snapshots"), config.snapshots),
        off=providers.Object(None),
        memory=providers.ThreadSafeSingleton(_async_memory, snapshot_store, "snapshot store"),
        s3=providers.ThreadSafeSingleton(_build, "async_snapshot_store", "s3", settings, resources),
        dynamodb=providers.Callable(
            _no_async, "snapshots 'dynamodb' (tips in the commit table)", "'s3' or 'memory'"
        ),
    )

    projector = providers.Factory(
        Projector,
        commit_store=commit_store,
        checkpoint_store=checkpoint_store,
        clock=clock,
        logger=logger,
    )

    event_stream_server = providers.Factory(_event_stream_server, commit_store=commit_store)


def create_container(
    values: Mapping[str, Any] | None = None,
    *,
    file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Container:
    """A :class:`Container` configured by :func:`load_configuration` (same arguments).

    Nothing is built and no adapter is imported until a provider is called.

    Raises:
        ConfigurationError: as for :func:`load_configuration`.
    """
    container = Container()
    container.config.from_dict(
        load_configuration(values, file=file, environ=environ, defaults=defaults)
    )
    return container


def install(container: Container) -> None:
    """Make the container's stores, clock and logger ``ddbes.config``'s process-wide defaults.

    Snapshots are turned on exactly when the snapshot store is not ``None`` (configured, or
    overridden by a test). Call it once at startup; call it again after overriding providers.

    Raises:
        ConfigurationError: a selected adapter is missing or misconfigured.
    """
    commit_store = container.commit_store()
    checkpoint_store = container.checkpoint_store()
    snapshot_store = container.snapshot_store()
    ddbes_config.update(
        commit_store=commit_store,
        checkpoint_store=checkpoint_store,
        snapshot_store=snapshot_store,
        snapshots=snapshot_store is not None,
        snapshots_frequency=int(container.config.snapshots_frequency()),
        clock=container.clock(),
        logger=container.logger(),
    )
