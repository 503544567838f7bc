"""The operator and producer commands: publish, integrations, resend, dead-letter replay, the CLI."""
