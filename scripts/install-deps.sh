#!/usr/bin/env bash
# Installs the system tools dlltagent's demo, tests and benchmarks use, only
# those missing, in one apt-get call. Go modules come through the module
# proxy (go mod download). Needs root on Debian/Ubuntu.
set -euo pipefail
declare -A pkg=(
  [tcpdump]=tcpdump [tshark]=tshark [tcpreplay]=tcpreplay [openssl]=openssl [curl]=curl
  [nginx]=nginx-light [dnsmasq]=dnsmasq-base [dig]=bind9-dnsutils [iptables]=iptables
  [argus]=argus-server [ip]=iproute2 [jq]=jq [bc]=bc [/usr/bin/time]=time [wget]=wget
  [psql]=postgresql-client [redis-server]=redis-server [redis-cli]=redis-tools
  [mariadbd]=mariadb-server [mariadb]=mariadb-client [pgbouncer]=pgbouncer
)
missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "$cmd" ] || missing+=("${pkg[$cmd]}")
done
# The lab's PostgreSQL servers (DB_ERROR): the server's binaries are not on PATH.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture: answer no, quietly.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx-light's package starts a system nginx on port 80; the tests start
# their own inside namespaces, so stop that one if it runs.
# The same for the system PostgreSQL, MariaDB and Redis their packages may start.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx postgresql mariadb redis-server pgbouncer >/dev/null 2>&1 || true; fi
go mod download
