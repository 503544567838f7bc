# The ordersync image: dispatch workers and the history process run from it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
COPY samples ./samples
# the locked versions, hashes checked
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && pip install --no-cache-dir --no-deps . && useradd --system ordersync && install -d -o ordersync /var/lib/ordersync
USER ordersync
ENV ORDERSYNC_VAR_DIR=/var/lib/ordersync
ENTRYPOINT ["ordersync"]
CMD ["worker"]
