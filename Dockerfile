# certrotor's rotation daemon in a container (docs/deploy.md): slim Python, a non-root user, the daemon
# as entry point, and a health check that answers from the daemon's stored observations.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/certrotor \
 && /opt/certrotor/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/certrotor/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 certrotor \
 && useradd --system --uid 10001 --gid certrotor --home-dir /var/lib/certrotor --create-home \
      --shell /usr/sbin/nologin certrotor \
 && chmod 0700 /var/lib/certrotor
COPY --from=build /opt/certrotor /opt/certrotor
ENV PATH=/opt/certrotor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CERTROTOR_DATA_DIR=/var/lib/certrotor \
    CERTROTOR_CONFIG=/etc/certrotor/config.toml \
    CERTROTOR_LOG_FORMAT=json
USER certrotor:certrotor
WORKDIR /var/lib/certrotor
VOLUME ["/var/lib/certrotor"]
# Prometheus /metrics, when the daemon is started with --metrics-port 9464 --metrics-host 0.0.0.0.
EXPOSE 9464
# OK (0) while every credential is healthy; WARN, CRIT and UNKNOWN mark the container unhealthy. The
# daemon observes NetSuite on its own schedule: the check reads observations up to 15 minutes old.
HEALTHCHECK --interval=5m --timeout=60s --start-period=2m --retries=2 \
  CMD ["certrotor", "health", "--max-age", "15m"]
ENTRYPOINT ["certrotor"]
CMD ["daemon"]
