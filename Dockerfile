# syntax=docker/dockerfile:1
# Herald's container image: built in the Rust image, run from a slim Debian one as an
# unprivileged user. One image for every role: `serve`, `api`, `worker`, `migrate`.
#
#   docker build -t herald .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p herald \
 && cp target/release/herald /usr/local/bin/herald

FROM debian:bookworm-slim
# CA certificates for deliveries to https:// endpoints; nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/herald --create-home herald
COPY --from=build /usr/local/bin/herald /usr/local/bin/herald
USER 10001
WORKDIR /var/lib/herald
ENV HERALD_LISTEN=0.0.0.0:8080
EXPOSE 8080
# `herald health` asks the local listener; worker containers turn this off (compose).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["herald", "health"]
ENTRYPOINT ["herald"]
CMD ["serve"]
