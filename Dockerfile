# The ordersync image: dispatch workers and the history process run from it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
COPY samples ./samples
RUN pip install --no-cache-dir . && useradd --system ordersync && install -d -o ordersync /var/lib/ordersync
USER ordersync
ENV ORDERSYNC_VAR_DIR=/var/lib/ordersync
ENTRYPOINT ["ordersync"]
CMD ["worker"]
