"""The status send history: ClickHouse storage, the sink and the report's API."""
