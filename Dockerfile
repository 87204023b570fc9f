# The operator's image: a static-enough Rust build on a distroless, non-root base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --bin bms-job-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bms-job-operator /usr/local/bin/bms-job-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bms-job-operator"]
CMD ["run"]
