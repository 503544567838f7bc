"""A separate virtualenv with a pinned Quix Streams, for the Quix peer of the benchmark.

``quix_python(cache_dir)`` creates ``cache_dir / "quix-venv"`` once (with the caller's
interpreter, ``sys.executable``), installs the pinned ``quixstreams[avro]`` and ``requests``
from PyPI into it, and returns the venv's python; later calls reuse it as long as the pins
are unchanged (a stamp file records them).

Why a separate venv: quixstreams 3.28.1 (the newest release when this was written) declares
``confluent-kafka[avro,json,protobuf,schemaregistry] >=2.8.2,<2.13`` and ``pydantic <2.14``,
while ordersync runs on confluent-kafka 2.16.1; installing it into our venv would downgrade
our Kafka client, so the peer gets its own interpreter. The ``avro`` extra adds fastavro,
which the Schema Registry Avro deserializer needs (Quix docs, "Schema Registry" page).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

QUIXSTREAMS_VERSION = "3.28.1"
REQUESTS_VERSION = "2.32.5"
REQUIREMENTS = (f"quixstreams[avro]=={QUIXSTREAMS_VERSION}", f"requests=={REQUESTS_VERSION}")


def quix_python(cache_dir: Path) -> Path:
    """The python of a venv holding the pinned quixstreams; created on first use."""
    root = Path(cache_dir) / "quix-venv"
    python = root / "bin" / "python"
    stamp = root / "ordersync-pins.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    root.parent.mkdir(parents=True, exist_ok=True)
    # the venv module of the caller's interpreter, so the peer runs the same Python (3.11)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python
