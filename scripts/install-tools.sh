#!/usr/bin/env bash
# Installs what the local stack needs, idempotently: Postgres and Redis from
# Debian's packages, an unprivileged `breakwater` user for Postgres (which
# refuses to run as root), and Toxiproxy and k6 built with `go install` at
# pinned versions. `npx breakwater setup` and .ci/run both call this.
# With BREAKWATER_DEV_TOOLS=1 (.ci/run sets it) it also installs the tools the
# harness's own tests use but a run never does: actionlint (pinned, built with
# `go install`) and shellcheck (Debian package; actionlint checks `run:` scripts with it).
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0
K6_VERSION=v1.8.1   # k6 v2 is not served by the Go module proxy; the v1 line is pinned.
ACTIONLINT_VERSION=v1.7.12   # the newest v1.7.x the Go module proxy serves
DEV_TOOLS="${BREAKWATER_DEV_TOOLS:-0}"
GOBIN_DIR="${BREAKWATER_BIN:-$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin}"

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else say "need root for: $*"; return 1; fi; }

pg_present() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

missing_pkgs=()
pg_present || missing_pkgs+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing_pkgs+=(redis-server)
# The sealed network: `unshare` makes the loopback-only namespace, `ip` brings its loopback up.
command -v unshare >/dev/null 2>&1 || missing_pkgs+=(util-linux)
command -v ip >/dev/null 2>&1 || missing_pkgs+=(iproute2)
if [ "$DEV_TOOLS" = 1 ]; then command -v shellcheck >/dev/null 2>&1 || missing_pkgs+=(shellcheck); fi
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing_pkgs[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
else
  say "postgres and redis-server present"
fi

if [ "$(id -u)" = 0 ] && ! id -u breakwater >/dev/null 2>&1; then
  say "creating unprivileged user 'breakwater' (Postgres refuses to run as root)"
  useradd --system --no-create-home --shell /usr/sbin/nologin breakwater
fi

if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed: install Go 1.22+ to build toxiproxy-server and k6"; exit 1
fi
mkdir -p "$GOBIN_DIR"

# `go version -m` reads the module version built into the binary (toxiproxy's own -version says "git").
has_version() { [ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -qE "^\s+mod\s+\S+\s+$2(\s|$)"; }

if has_version "$GOBIN_DIR/toxiproxy-server" "$TOXIPROXY_VERSION"; then
  say "toxiproxy-server ${TOXIPROXY_VERSION} present"
else
  say "building toxiproxy-server ${TOXIPROXY_VERSION} (go install)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}"
  mv "$tmp/server" "$GOBIN_DIR/toxiproxy-server"
fi

if has_version "$GOBIN_DIR/k6" "$K6_VERSION"; then
  say "k6 ${K6_VERSION} present"
else
  say "building k6 ${K6_VERSION} (go install; takes a few minutes the first time)"
  GOBIN="$GOBIN_DIR" go install "go.k6.io/k6@${K6_VERSION}"
fi

if [ "$DEV_TOOLS" = 1 ]; then
  if has_version "$GOBIN_DIR/actionlint" "$ACTIONLINT_VERSION"; then
    say "actionlint ${ACTIONLINT_VERSION} present"
  else
    say "building actionlint ${ACTIONLINT_VERSION} (go install; a dev tool: test/ci lints .github/workflows with it)"
    GOBIN="$GOBIN_DIR" go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
  fi
fi
say "done; tools are in $GOBIN_DIR"
