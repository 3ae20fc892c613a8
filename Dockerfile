# syntax=docker/dockerfile:1
# The cotel container image: a Debian 12 stage builds the collector, and a slim Debian 12
# stage carries only the binary, its shared libraries and a default config, run as uid 10001.
# Build from the repository root: docker build -t cotel:0.1.0 .

FROM debian:12 AS build
# The dependency script alone first, so that a source change does not reinstall packages.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)"

FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh
# /var/lib/cotel is the file_storage directory; it must be writable by the non-root user.
RUN groupadd --system --gid 10001 cotel \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/cotel --no-create-home \
        --shell /usr/sbin/nologin cotel \
    && mkdir -p /etc/cotel /var/lib/cotel \
    && chown cotel:cotel /var/lib/cotel
COPY --from=build /src/build/cmd/cotel/cotel /usr/bin/cotel
# In a container, listening on localhost would be unreachable from outside, hence 0.0.0.0.
COPY <<"EOF" /etc/cotel/config.yaml
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
processors:
  memory_limiter:
    check_interval: 5s
    limit_percentage: 80
    spike_limit_percentage: 25
  batch: {}
exporters:
  debug: {}
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 0.0.0.0
                port: 8888
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
EOF
USER 10001:10001
WORKDIR /var/lib/cotel
EXPOSE 4317 4318 13133 8888
ENTRYPOINT ["/usr/bin/cotel"]
CMD ["--config", "/etc/cotel/config.yaml"]
