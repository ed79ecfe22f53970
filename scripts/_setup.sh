# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/demo: system packages, .venv, the project install.
# Sourced, not run. Needs `set -euo pipefail` in the caller.

BATCHMETER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$BATCHMETER_ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# binary -> Debian package. Mosquitto lives in /usr/sbin, which a non-root PATH often lacks.
_have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

_missing_packages() {
  local -a missing=()
  _have mosquitto || missing+=(mosquitto)
  _have influxd || missing+=(influxdb)
  _have chromium || missing+=(chromium fonts-liberation)  # fonts: legible screenshots
  _have chromedriver || missing+=(chromium-driver)
  _have python3 || missing+=(python3)
  if _have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
  fi
  echo "${missing[@]:-}"
}

_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 127
  fi
}

# Debian starts a package's daemon on install; a broker on 1883 or influxd on 8086 would
# outlive the run and confuse anyone reading ports. The tests start their own servers, so
# the packaged services are stopped and disabled.
_quiet_packaged_services() {
  local svc
  for svc in mosquitto influxdb; do
    if [ -d /run/systemd/system ]; then
      _as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
      _as_root service "$svc" stop >/dev/null 2>&1 || true
      _as_root update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
}

_install_system_packages() {
  local missing
  missing="$(_missing_packages)"
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing: $missing. Install them with your package manager."
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    die "missing: $missing. Run as root or install them: apt-get install -y $missing"
  fi
  say "installing system packages: $missing"
  # A policy-rc.d that answers 101 keeps the daemons from starting during the install;
  # an existing one (containers often ship one) is left as it is.
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    _as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && made_policy=1
    # shellcheck disable=SC2064  # expand now: the path is fixed
    trap "_as_root rm -f '$policy'" EXIT  # also when interrupted mid-install
  fi
  # word splitting of $missing is intended: it is a list of package names
  # shellcheck disable=SC2086
  if ! { _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    die "apt-get could not install: $missing"
  fi
  if [ -n "$made_policy" ]; then _as_root rm -f "$policy"; trap - EXIT; fi
  _quiet_packaged_services
}

_stamp_of() { sha256sum "$BATCHMETER_ROOT/pyproject.toml" | cut -d' ' -f1; }

_install_project() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "batchmeter needs Python >= 3.11; python3 is $(python3 -V 2>&1). Install a newer python3."
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.batchmeter-installed" want
  want="$(_stamp_of)"
  # Several shells may share one checkout: one installer at a time.
  exec 9>"$VENV/.install.lock"
  flock 9
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ ! -x "$VENV/bin/batchmeter-sim" ]; then
    say "installing batchmeter[dev] into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$BATCHMETER_ROOT[dev]"
    echo "$want" >"$stamp"
  fi
  flock -u 9
  exec 9>&-
}

batchmeter_setup() {
  _install_system_packages
  _install_project
  export PATH="$VENV/bin:$PATH:/usr/sbin"
  cd "$BATCHMETER_ROOT"
}
