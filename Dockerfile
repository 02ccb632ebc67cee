# The Fargate task's image: the static fargate-processor binary, an empty /tmp for the task's
# scratch volume, and nothing else (no shell, no libc, no CA bundle: HTTPS trusts the roots
# compiled into the binary).
#
# `make image` builds it once per platform, linux/arm64 and linux/amd64, from the build context
# target/image/ that it fills with the two static binaries, an empty folder and the data
# contracts:
#   target/image/arm64/fargate-processor   (aarch64-unknown-linux-musl)
#   target/image/amd64/fargate-processor   (x86_64-unknown-linux-musl)
#   target/image/tmp/                      (empty, mode 0755)
#   target/image/contracts/*.toml          (the repository's contracts/, mode 0644)
# running `$(CONTAINER_CLI) build --platform linux/<arch> -f Dockerfile target/image`. The
# builder (buildah, BuildKit) sets TARGETARCH from --platform; `make image-push` then pushes
# both images and one image index naming them, so ECS pulls the platform the task definition
# asks for (ARM64 on FARGATE, X86_64 on FARGATE_SPOT). No RUN step: building for either
# platform needs no emulation and pulls nothing.
FROM scratch

# Set by the builder from --platform (arm64 or amd64). Without it the COPY below names a file
# the context does not hold, and the build fails rather than picking a binary.
ARG TARGETARCH
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="fargate-processor" \
      org.opencontainers.image.description="S3 upload pipeline: processes one uploaded object (large-object route) and writes its report" \
      org.opencontainers.image.source="https://github.com/s3-upload-pipeline/s3-upload-pipeline" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Owned by root and not writable by the user it runs as.
COPY ${TARGETARCH}/fargate-processor /fargate-processor

# The binary's allocator is mimalloc (fargate-processor/src/main.rs): these options return
# freed memory to the system at once (MIMALLOC_PURGE_DELAY, 1,000 ms by default) and commit
# its arenas as they are used (MIMALLOC_ARENA_EAGER_COMMIT), so peak memory stays near musl's
# allocator's (converting 1 GiB on two threads: 184 MiB against 156, 339 MiB without them). ECS
# passes the image's environment to the container, the task definition's added to it (AWS,
# Amazon ECS API Reference, ContainerOverride: "override the existing environment variables
# from the Docker image or the task definition"). bench_ranged runs the binary with them.
ENV MIMALLOC_PURGE_DELAY=0 MIMALLOC_ARENA_EAGER_COMMIT=0

# The data contracts, read once at start from PIPELINE_CONTRACTS_DIR (the task definition sets
# /contracts); owned by root, readable by all. Part of the image's content tag (Makefile).
COPY contracts /contracts

# The task definition mounts a bind-mount volume at /tmp (the root filesystem is read-only).
# AWS, "Use bind mounts with Amazon ECS" (Amazon ECS Developer Guide): a bind mount's
# permissions default to 0755 and owner root, which user 65532 cannot write to; when the
# image's VOLUME path equals the mount's containerPath, the ECS data plane copies that path
# from the image into the volume, and its permissions can be set in the Dockerfile. So the
# image carries an empty /tmp owned by the task's user (mode 0755 from the build context),
# declared a VOLUME. COPY of the empty folder creates /tmp with the --chown owner: what
# buildah (podman) produces, checked by scripts/image-test; a docker build is not tested here.
COPY --chown=65532:65532 tmp /tmp
VOLUME ["/tmp"]

# A numeric user (no /etc/passwd here): the same one ECS's task definition names.
USER 65532:65532
ENTRYPOINT ["/fargate-processor"]
