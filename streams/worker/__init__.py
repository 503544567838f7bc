"""The dispatch worker: reads order events, decides, sends, records outcomes and retries."""
