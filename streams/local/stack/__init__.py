"""Local infrastructure without Docker: Kafka (KRaft) and Apicurio Registry on Java 17.

Both run from their official Maven Central artifacts, resolved by Maven into a cache
directory, and are managed through pid files and logs under ``var/``.
"""

from streams.local.stack.services import Stack

__all__ = ["Stack"]
