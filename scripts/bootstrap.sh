#!/usr/bin/env bash
# Installs what Recompra needs on a fresh Debian machine: system packages (PostgreSQL,
# Java for Spark, Chromium for the browser tests) and the Python environment in .venv,
# pinned by constraints.txt. Safe to re-run: it only installs what is missing.
#   scripts/bootstrap.sh          # runtime (demo)
#   scripts/bootstrap.sh --test   # runtime + test tools (PostgreSQL, Java, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

apt_missing=()
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || apt_missing+=("$1"); }
if command -v dpkg >/dev/null 2>&1; then
  need_pkg python3-venv
  if [[ $want_test == 1 ]]; then
    need_pkg postgresql
    command -v java >/dev/null 2>&1 || need_pkg default-jre-headless
    need_pkg chromium
  fi
fi
if ((${#apt_missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    log "installing Debian packages: ${apt_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  else
    log "missing Debian packages (need root to install): ${apt_missing[*]}; tests needing them will skip"
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.recompra-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "installing Python packages (pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
