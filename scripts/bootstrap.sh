#!/usr/bin/env bash
# Make this machine ready for drillkit: a Docker engine that answers, the Python environment, and the
# tools the lab needs to build images offline. Idempotent and quiet when everything is already there:
# where a Docker engine already answers, nothing is installed and no root is needed for that part.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"
say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@" || die "needs root for: $* (run as root or allow sudo)"
  else die "needs root for: $* (run as root)"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    as_root apt-get update -qq >"$CACHE/apt-update.log" 2>&1 || { tail -5 "$CACHE/apt-update.log" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  say "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >"$CACHE/apt-install.log" 2>&1 || { tail -15 "$CACHE/apt-install.log" >&2; die "apt-get install $* failed"; }
}

# --- Docker engine ----------------------------------------------------------------------------
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "no Docker engine answers and apt-get is missing: install and start Docker, then retry"
    apt_install docker.io
  fi
  if ! command -v docker >/dev/null 2>&1; then apt_install docker.io; fi
  say "starting dockerd (log: $CACHE/dockerd.log)"
  as_root bash -c "nohup dockerd >'$CACHE/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then say "Docker engine answers ($(docker version --format '{{.Server.Version}}'))"; return 0; fi
    sleep 1
  done
  tail -20 "$CACHE/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s (its log is above)"
}

# --- tools for offline images -----------------------------------------------------------------
ensure_image_tools() {
  # debootstrap: only needed when the Debian base image is missing (no registry to pull from)
  if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1 && ! command -v debootstrap >/dev/null 2>&1; then
    apt_install debootstrap
  fi
}

# --- tools for the reports -------------------------------------------------------------------
ensure_chromium() {
  # headless Chromium prints the management page to PDF; only installed where it is missing
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "${DRILLKIT_CHROMIUM:-}" ]; then return 0; fi
  command -v apt-get >/dev/null 2>&1 || { say "no Chromium and no apt-get: the management page gets no PDF"; return 0; }
  apt_install chromium
}

# --- Python environment -----------------------------------------------------------------------
ensure_python() {
  local py="${PYTHON:-python3}" stamp="$ROOT/.venv/.drillkit-installed" want
  command -v "$py" >/dev/null 2>&1 || apt_install python3 python3-venv
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "drillkit needs Python >= 3.11 ($py is $("$py" --version 2>&1)); set PYTHON=/path/to/python3.11"
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ -x "$ROOT/.venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    say "creating the Python environment in .venv"
    "$py" -m venv "$ROOT/.venv" 2>/dev/null || { apt_install python3-venv; "$py" -m venv "$ROOT/.venv"; }
  fi
  say "installing drillkit and its dependencies into .venv"
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT" >"$CACHE/pip.log" 2>&1 \
    || { tail -15 "$CACHE/pip.log" >&2; die "pip install failed (log above)"; }
  echo "$want" >"$stamp"
}

# --- tools that run the CI templates here (tests/lab/test_ci_templates_run.py) ------------------
# gitlab-ci-local runs ci/gitlab/drills.gitlab-ci.yml with its shell executor (it copies the project
# with rsync); act runs ci/github/drills.yml on this host. Both land in .cache/ci-tools/bin, each
# with a stamp of its version, so a second call does nothing. gitlab-ci-local is pinned to 4.73.0:
# 4.74.0 and later call Set.prototype.union, which Node 20 lacks (TypeError: ….union is not a function).
ACT_MODULE=github.com/nektos/act ACT_VERSION=v0.2.89 GCL_VERSION=4.73.0
ensure_ci_tools() {
  local dir="$CACHE/ci-tools" t0
  mkdir -p "$dir/bin"
  command -v git >/dev/null 2>&1 || apt_install git
  command -v rsync >/dev/null 2>&1 || apt_install rsync
  if [ "$(cat "$dir/gitlab-ci-local.version" 2>/dev/null)" != "$GCL_VERSION" ] || [ ! -x "$dir/bin/gitlab-ci-local" ]; then
    command -v npm >/dev/null 2>&1 || die "gitlab-ci-local needs Node.js and npm (Node >= 18): install them, then retry"
    say "installing gitlab-ci-local $GCL_VERSION (npm)"
    t0=$SECONDS
    rm -rf "$dir/gitlab-ci-local"
    npm install --prefix "$dir/gitlab-ci-local" --no-audit --no-fund --no-package-lock --loglevel=error \
      "gitlab-ci-local@$GCL_VERSION" >"$dir/npm-install.log" 2>&1 \
      || { tail -15 "$dir/npm-install.log" >&2; die "npm install gitlab-ci-local@$GCL_VERSION failed (log above)"; }
    ln -sfn "$dir/gitlab-ci-local/node_modules/.bin/gitlab-ci-local" "$dir/bin/gitlab-ci-local"
    "$dir/bin/gitlab-ci-local" --version >/dev/null 2>"$dir/gitlab-ci-local.err" \
      || { tail -3 "$dir/gitlab-ci-local.err" >&2; die "gitlab-ci-local $GCL_VERSION does not start with $(node --version 2>&1)"; }
    echo "$GCL_VERSION" >"$dir/gitlab-ci-local.version"
    say "gitlab-ci-local $GCL_VERSION installed in $((SECONDS - t0)) s"
  fi
  if [ "$(cat "$dir/act.version" 2>/dev/null)" != "$ACT_VERSION" ] || [ ! -x "$dir/bin/act" ]; then
    local go; go="$(command -v go || echo /usr/local/go/bin/go)"
    [ -x "$go" ] || die "act is built from its Go module and needs Go >= 1.25: install Go, then retry"
    say "building act $ACT_VERSION from the Go module $ACT_MODULE (go install, about a minute and a half the first time)"
    t0=$SECONDS
    GOBIN="$dir/bin" CGO_ENABLED=0 "$go" install -trimpath -ldflags="-s -w" "$ACT_MODULE@$ACT_VERSION" >"$dir/go-install.log" 2>&1 \
      || { tail -15 "$dir/go-install.log" >&2; die "go install $ACT_MODULE@$ACT_VERSION failed (log above)"; }
    echo "$ACT_VERSION" >"$dir/act.version"
    say "act $ACT_VERSION built in $((SECONDS - t0)) s"
  fi
}

case "${1:-all}" in
  python) ensure_python ;;
  docker) ensure_docker ;;
  all) ensure_python; ensure_docker; ensure_image_tools ;;
  report) ensure_chromium ;;
  ci-tools) ensure_ci_tools ;;
  *) die "unknown part ${1}" ;;
esac
