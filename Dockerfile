# syntax=docker/dockerfile:1
# The rul service as a SageMaker bring-your-own-container image (also usable as a plain service image).
#
#   docker build -t rul .
#   docker run -p 8080:8080 rul serve          # what SageMaker runs: /ping and /invocations on 8080
#
# SageMaker starts the container as `docker run IMAGE serve`; ENTRYPOINT ["rul"] turns that into `rul serve`, and
# RUL_SAGEMAKER=1 makes it container mode (port 8080, model from /opt/ml/model). The shipped FD001 model is baked
# into /opt/ml/model, so the image works with or without a ModelDataUrl (SageMaker mounts model.tar.gz's contents
# there when one is given; build it with `rul sagemaker package`).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The workspace sources (the .dockerignore keeps data, runs and build outputs out of the context).
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY proto proto
COPY crates crates
RUN cargo build --release --locked -p rul-cli --bin rul \
 && strip target/release/rul \
 && cp target/release/rul /usr/local/bin/rul

FROM debian:bookworm-slim
# ca-certificates: the SageMaker client (use_sagemaker) verifies AWS endpoints with the system roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rul
COPY --from=build /usr/local/bin/rul /usr/local/bin/rul
COPY --chown=root:root models/fd001 /opt/ml/model
USER 10001
ENV RUL_SAGEMAKER=1 \
    HOST=0.0.0.0 \
    LOG_FORMAT=json \
    SHUTDOWN_GRACE_SECS=20
EXPOSE 8080
ENTRYPOINT ["rul"]
CMD ["serve"]
