"""The one settings object, built once at start-up from ``ORDERSYNC_*`` variables.

Every knob lives here so that a reader finds the whole configuration surface in one
file, and so that tests get isolated topics and ports by changing the environment.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from streams.errors import ConfigurationError
from streams.secrets import Secret


def _api_token(value: str) -> Secret:
    """``<tenant>:<role>:<token>``: the token alone is masked too (not the tenant or role)."""
    Secret(value.rsplit(":", 1)[-1])
    return Secret(value)


def dsn_password(dsn: str) -> str | None:
    """The password of a ClickHouse DSN (``user:pass@`` or ``?password=``), if any."""
    if not dsn.startswith(("http://", "https://")):
        return None
    parts = urlsplit(dsn)
    if parts.password:
        return unquote(parts.password)
    given = parse_qs(parts.query).get("password")
    return given[0] if given else None


def _delays(raw: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(
            f"ORDERSYNC_RETRY_DELAYS_S: expected seconds separated by commas, got {raw!r}"
        ) from None
    if not delays or any(d < 0 for d in delays):
        raise ConfigurationError("ORDERSYNC_RETRY_DELAYS_S: at least one delay, none negative")
    return delays


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    cache_dir: Path | None = None
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    # may carry a password: never printed, and the password is masked wherever it shows
    clickhouse_dsn: str = field(default="", repr=False)
    topic_prefix: str = ""
    partitions: int = 12
    bind_host: str = "127.0.0.1"
    worker_port: int = 6066
    history_port: int = 8090
    sandbox_port: int = 8070
    max_attempts: int = 3
    retry_delays_s: tuple[float, ...] = (2.0, 10.0)
    retry_max_delay_s: float = 60.0
    http_timeout_s: float = 10.0
    # sends a worker has under way at once, across stores: what a crash could repeat, at most
    max_in_flight: int = 2048
    # events a worker holds in memory, read ahead of their sends (one at a time per order)
    read_ahead: int = 20_000
    # a store's sends at once to begin with; it follows the store's answers up to the max
    store_concurrency: int = 4
    store_concurrency_max: int = 256
    # a store's events wait in memory for about this many seconds of its work; the rest
    # are parked on orders.parked until their turn comes near
    store_queue_s: float = 5.0
    # a worker's records wait up to this many ms to go to their broker in one produce
    # request: the broker's work is mostly per request and per partition in it
    produce_linger_ms: float = 50.0
    # an insert per second rather than two: history CPU per 1,000 events 0.168 -> 0.134 s
    # (quick throughput run, 30,000 events); rows reach the report within about a second
    sink_batch_size: int = 2000
    sink_flush_interval_s: float = 1.0
    # fault injection for `make chaos`: while this file exists the history sink's writes
    # fail as if ClickHouse were unreachable
    sink_refuse_file: Path | None = None
    secrets_dir: Path | None = None
    # an NF-e XML fetched from the ERP (invoice.xml_url) or carried in the event: at most
    # this many bytes, within this many seconds; certificates of the ERP's hosts may be
    # signed by the CAs in erp_ca_file besides the public ones (an ERP on a private PKI)
    nfe_max_bytes: int = 1_000_000
    nfe_fetch_timeout_s: float = 10.0
    erp_ca_file: Path | None = None
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    log_level: str = "info"
    env_secrets: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    # ORDERSYNC_API_TOKEN_<NAME>=<tenant>:<role>:<token>, checked by the history API
    api_tokens: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    # the token ordersync's own commands (resend) present to the history API
    client_token: Secret | None = field(default=None, repr=False)
    # signs the control headers resend and dlt replay put on orders.events
    signing_key: Secret | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        password = dsn_password(self.clickhouse_dsn)
        if password:
            Secret(password)  # registered with the masker: logs and errors never show it

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.rsplit(":", 1)[1])

    @property
    def registry_port(self) -> int:
        hostport = self.registry_url.split("://", 1)[1].split("/", 1)[0]
        return int(hostport.rsplit(":", 1)[1])

    @property
    def clickhouse_url(self) -> str:
        return self.clickhouse_dsn or f"chdb://{(self.var_dir / 'clickhouse').resolve()}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(f"ORDERSYNC_{name}", default)

        def get_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                return int(raw)
            except ValueError:
                raise ConfigurationError(
                    f"ORDERSYNC_{name}: expected an integer, got {raw!r}"
                ) from None

        def get_float(name: str, default: float) -> float:
            raw = get(name, str(default))
            try:
                return float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"ORDERSYNC_{name}: expected a number, got {raw!r}"
                ) from None

        networks = []
        for item in filter(None, (s.strip() for s in get("ALLOWED_NETWORKS", "").split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"ORDERSYNC_ALLOWED_NETWORKS: {item!r} is not a network (e.g. 127.0.0.0/8)"
                ) from None
        secrets_dir = get("SECRETS_DIR", "")
        settings = cls(
            var_dir=Path(get("VAR_DIR", "var")).resolve(),
            cache_dir=Path(get("CACHE_DIR", "")).resolve() if get("CACHE_DIR", "") else None,
            kafka_bootstrap=get("KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            kafka_controller_port=get_int("KAFKA_CONTROLLER_PORT", cls.kafka_controller_port),
            registry_url=get("REGISTRY_URL", cls.registry_url).rstrip("/"),
            clickhouse_dsn=get("CLICKHOUSE_DSN", ""),
            topic_prefix=get("TOPIC_PREFIX", ""),
            partitions=get_int("PARTITIONS", cls.partitions),
            bind_host=get("BIND_HOST", cls.bind_host),
            worker_port=get_int("WORKER_PORT", cls.worker_port),
            history_port=get_int("HISTORY_PORT", cls.history_port),
            sandbox_port=get_int("SANDBOX_PORT", cls.sandbox_port),
            max_attempts=get_int("MAX_ATTEMPTS", cls.max_attempts),
            retry_delays_s=_delays(get("RETRY_DELAYS_S", "2,10")),
            retry_max_delay_s=get_float("RETRY_MAX_DELAY_S", cls.retry_max_delay_s),
            http_timeout_s=get_float("HTTP_TIMEOUT_S", cls.http_timeout_s),
            max_in_flight=get_int("MAX_IN_FLIGHT", cls.max_in_flight),
            read_ahead=get_int("READ_AHEAD", cls.read_ahead),
            store_concurrency=get_int("STORE_CONCURRENCY", cls.store_concurrency),
            store_concurrency_max=get_int("STORE_CONCURRENCY_MAX", cls.store_concurrency_max),
            store_queue_s=get_float("STORE_QUEUE_S", cls.store_queue_s),
            produce_linger_ms=get_float("PRODUCE_LINGER_MS", cls.produce_linger_ms),
            sink_batch_size=get_int("SINK_BATCH_SIZE", cls.sink_batch_size),
            sink_flush_interval_s=get_float("SINK_FLUSH_INTERVAL_S", cls.sink_flush_interval_s),
            sink_refuse_file=Path(get("SINK_REFUSE_FILE", "")).resolve()
            if get("SINK_REFUSE_FILE", "")
            else None,
            secrets_dir=Path(secrets_dir).resolve() if secrets_dir else None,
            nfe_max_bytes=get_int("NFE_MAX_BYTES", cls.nfe_max_bytes),
            nfe_fetch_timeout_s=get_float("NFE_FETCH_TIMEOUT_S", cls.nfe_fetch_timeout_s),
            erp_ca_file=Path(get("ERP_CA_FILE", "")).resolve() if get("ERP_CA_FILE", "") else None,
            allowed_networks=tuple(networks),
            log_level=get("LOG_LEVEL", cls.log_level),
            env_secrets={
                key.removeprefix("ORDERSYNC_SECRET_"): Secret(value)
                for key, value in env.items()
                if key.startswith("ORDERSYNC_SECRET_")
            },
            api_tokens={
                key: _api_token(value)
                for key, value in env.items()
                if key.startswith("ORDERSYNC_API_TOKEN_")
            },
            client_token=Secret(env["ORDERSYNC_CLIENT_TOKEN"])
            if env.get("ORDERSYNC_CLIENT_TOKEN")
            else None,
            signing_key=Secret(env["ORDERSYNC_SIGNING_KEY"])
            if env.get("ORDERSYNC_SIGNING_KEY")
            else None,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if ":" not in self.kafka_bootstrap:
            raise ConfigurationError(
                f"ORDERSYNC_KAFKA_BOOTSTRAP: expected host:port, got {self.kafka_bootstrap!r}"
            )
        if not self.registry_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"ORDERSYNC_REGISTRY_URL: expected an http(s) URL, got {self.registry_url!r}"
            )
        if self.clickhouse_dsn and not self.clickhouse_dsn.startswith(
            ("chdb://", "http://", "https://")
        ):
            raise ConfigurationError(
                "ORDERSYNC_CLICKHOUSE_DSN: expected chdb:///path or http(s)://host:8123, "
                f"got {self.clickhouse_dsn!r}"
            )
        if self.partitions < 1:
            raise ConfigurationError("ORDERSYNC_PARTITIONS: must be at least 1")
        if self.max_attempts < 1:
            raise ConfigurationError("ORDERSYNC_MAX_ATTEMPTS: must be at least 1")
        for name, value in (
            ("MAX_IN_FLIGHT", self.max_in_flight),
            ("READ_AHEAD", self.read_ahead),
            ("STORE_CONCURRENCY", self.store_concurrency),
            ("STORE_CONCURRENCY_MAX", self.store_concurrency_max),
            ("NFE_MAX_BYTES", self.nfe_max_bytes),
        ):
            if value < 1:
                raise ConfigurationError(f"ORDERSYNC_{name}: must be at least 1")
        if not 0 <= self.produce_linger_ms <= 1000:
            raise ConfigurationError("ORDERSYNC_PRODUCE_LINGER_MS: from 0 to 1000")
        if self.erp_ca_file is not None and not self.erp_ca_file.is_file():
            raise ConfigurationError(f"ORDERSYNC_ERP_CA_FILE: no file at {self.erp_ca_file}")
        if self.signing_key is not None and len(self.signing_key.reveal()) < 32:
            raise ConfigurationError("ORDERSYNC_SIGNING_KEY: at least 32 characters")

    def secret(self, reference: str) -> Secret | None:
        """Resolve a credentials reference: the environment first, then the secrets dir."""
        if reference in self.env_secrets:
            return self.env_secrets[reference]
        if self.secrets_dir is not None:
            path = self.secrets_dir / reference
            if path.is_file() and path.resolve().parent == self.secrets_dir:
                return Secret(path.read_text().strip())
        return None
