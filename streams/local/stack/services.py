"""Kafka and Apicurio Registry, resolved from Maven Central and run on Java 17."""

from __future__ import annotations

import base64
import secrets
import shutil
import socket
import tarfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from streams.local.stack.process import ManagedProcess, StackError, run_checked, wait_until
from streams.settings import Settings

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
APICURIO_VERSION = "3.0.9"
START_TIMEOUT_S = 120.0

KAFKA_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ordersync</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <!-- the release tarball adds a logging binding; the POM does not -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2_PROPERTIES = """status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


def cluster_id() -> str:
    """A new KRaft cluster id, as ``kafka-storage random-uuid`` makes one (without its JVM):
    16 random bytes in URL-safe base64, never starting with a dash."""
    while True:
        uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not uuid.startswith("-"):
            return uuid


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("java not found on PATH: install a Java 17 runtime")
    return java


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn not found on PATH: install Apache Maven")
    return mvn


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str


class JavaService:
    """A service run as one Java process: started, then waited on until it answers."""

    name: str
    label: str  # how messages name it
    process: ManagedProcess

    @property
    def address(self) -> str:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def launch(self, command: list[str], cwd: Path) -> None:
        self.process.start(command, cwd=cwd)
        try:
            wait_until(
                self.ready, START_TIMEOUT_S, f"{self.label} on {self.address}", interval_s=0.5
            )
        except StackError as exc:
            raise StackError(
                f"{exc}\n--- {self.process.log_file} ---\n{self.process.log_tail()}"
            ) from exc

    def ready(self) -> bool:
        if self.process.pid() is None:
            raise StackError(f"{self.label} exited during start-up:\n{self.process.log_tail()}")
        return self.answers()

    def status(self) -> ServiceStatus:
        return ServiceStatus(self.name, self.answers(), self.process.pid(), self.address)


class KafkaService(JavaService):
    name = "kafka"
    label = "Kafka"

    def __init__(self, settings: Settings, cache_dir: Path) -> None:
        self.settings = settings
        self.home = cache_dir / f"kafka-{KAFKA_VERSION}"
        self.data_dir = settings.var_dir / "kafka" / "data"
        self.process = ManagedProcess(self.name, settings.var_dir / "run", settings.var_dir / "log")

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap

    def install(self) -> None:
        lib = self.home / "lib"
        if (self.home / ".complete").exists():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "pom.xml").write_text(KAFKA_POM)
        run_checked(
            [_mvn(), "-B", "-q", "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
            cwd=self.home,
            what=f"resolving Kafka {KAFKA_VERSION} from Maven Central",
        )
        (self.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        (self.home / ".complete").touch()

    def _properties(self) -> str:
        port = self.settings.kafka_port
        cport = self.settings.kafka_controller_port
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{cport}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Topics are created by ordersync with their partition counts; a typo in a
                # topic name must fail loudly rather than create a 1-partition topic.
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "log.retention.hours=168",
                "",
            ]
        )

    def _java_cmd(self, main: str, *args: str, heap: str = "-Xmx256m") -> list[str]:
        return [
            _java(),
            heap,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            str(self.home / "lib" / "*"),
            main,
            *args,
        ]

    def start(self) -> None:
        if self.process.pid() is not None:
            return
        if port_open(self.settings.kafka_port):
            if self.answers():
                return  # a broker already serves this address (another var dir, or by hand)
            raise StackError(
                f"port {self.settings.kafka_port} is taken by another process; "
                "set ORDERSYNC_KAFKA_BOOTSTRAP to another address"
            )
        self.install()
        config_dir = self.settings.var_dir / "kafka"
        config_dir.mkdir(parents=True, exist_ok=True)
        props = config_dir / "server.properties"
        props.write_text(self._properties())
        if not (self.data_dir / "meta.properties").exists():
            run_checked(
                self._java_cmd(
                    "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(props)
                ),
                cwd=config_dir,
                what="formatting Kafka storage",
            )
        self.launch(self._java_cmd("kafka.Kafka", str(props), heap="-Xmx512m"), config_dir)

    def answers(self) -> bool:
        if not port_open(self.settings.kafka_port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        try:
            admin.list_topics(timeout=2)
        except Exception:
            return False
        return True


class RegistryService(JavaService):
    name = "registry"
    label = "the registry"

    def __init__(self, settings: Settings, cache_dir: Path) -> None:
        self.settings = settings
        self.home = cache_dir / f"apicurio-registry-{APICURIO_VERSION}"
        self.process = ManagedProcess(self.name, settings.var_dir / "run", settings.var_dir / "log")

    @property
    def address(self) -> str:
        return self.settings.registry_url

    def install(self) -> None:
        if (self.home / ".complete").exists():
            return
        download = self.home.parent / "downloads"
        download.mkdir(parents=True, exist_ok=True)
        run_checked(
            [
                _mvn(),
                "-B",
                "-q",
                "dependency:copy",
                f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
                f"-DoutputDirectory={download}",
            ],
            cwd=download,
            what=f"fetching Apicurio Registry {APICURIO_VERSION} from Maven Central",
        )
        archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(self.home, filter="data")
        archive.unlink()
        (self.home / ".complete").touch()

    def _runner_jar(self) -> Path:
        jars = sorted(self.home.glob("*-runner.jar")) or sorted(self.home.rglob("quarkus-run.jar"))
        if not jars:
            raise StackError(f"no runnable jar found in {self.home}")
        return jars[0]

    def start(self) -> None:
        if self.process.pid() is not None:
            return
        port = self.settings.registry_port
        if port_open(port):
            if self.answers():
                return
            raise StackError(
                f"port {port} is taken by another process; set ORDERSYNC_REGISTRY_URL to another port"
            )
        self.install()
        self.launch(
            [
                _java(),
                "-Xmx384m",
                f"-Dquarkus.http.port={port}",
                "-Dquarkus.http.host=127.0.0.1",
                # its management interface defaults to 9000, ClickHouse's native port
                "-Dquarkus.management.enabled=false",
                "-jar",
                str(self._runner_jar()),
            ],
            self.home,
        )

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address}/subjects", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False


class Stack:
    """Kafka and the registry together; every operation is idempotent."""

    def __init__(self, settings: Settings, cache_dir: Path | None = None) -> None:
        cache = cache_dir or settings.cache_dir or settings.var_dir / "cache"
        self.kafka = KafkaService(settings, cache)
        self.registry = RegistryService(settings, cache)

    def up(self) -> None:
        # Kafka's resolution fetches Maven's own plugins first; then the registry's fetch and
        # both start-ups run side by side (one Maven at a time writes the local repository)
        self.kafka.install()
        with ThreadPoolExecutor(2, thread_name_prefix="stack") as pool:
            started = [pool.submit(self.kafka.start), pool.submit(self.registry.start)]
            for future in started:
                future.result()

    def down(self) -> None:
        self.registry.process.stop()
        self.kafka.process.stop()

    def status(self) -> list[ServiceStatus]:
        return [self.kafka.status(), self.registry.status()]
