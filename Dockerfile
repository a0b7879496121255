# Builds the worker and trigger binaries. Used by docker-compose.yml for a production-like setup; the dev
# default (go run ./cmd/trigger run --dev …) needs no container.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./cmd/worker && \
    CGO_ENABLED=0 go build -trimpath -o /out/trigger ./cmd/trigger

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/trigger /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/worker"]
