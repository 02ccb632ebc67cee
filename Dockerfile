# The Fargate task's image: the static fargate-processor binary and nothing else (no shell, no
# libc, no CA bundle: HTTPS trusts the roots compiled into the binary).
#
# `make image` builds it: it cross-compiles the binary for IMAGE_ARCH (arm64 by default) with
# cargo-zigbuild, copies it into target/image/<arch>/ and runs
#   $(CONTAINER_CLI) build --platform linux/<arch> -f Dockerfile target/image/<arch>
# so the build context holds the binary only. No RUN step: building needs no emulation and
# pulls nothing.
FROM scratch

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="fargate-processor" \
      org.opencontainers.image.description="S3 upload pipeline: processes one uploaded object (large-object route) and writes its report" \
      org.opencontainers.image.source="https://github.com/s3-upload-pipeline/s3-upload-pipeline" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Owned by root and not writable by the user it runs as.
COPY fargate-processor /fargate-processor

# A numeric user (no /etc/passwd here): the same one ECS's task definition names.
USER 65532:65532
ENTRYPOINT ["/fargate-processor"]
