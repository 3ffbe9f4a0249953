#!/usr/bin/env bash
# Builds and removes the test network used by `make demo` and the live
# tests: a client "pod" and a server host, each a network namespace, joined
# by a veth pair (eth0 in each), with real servers on the server side.
# Addresses come only from 198.18.0.0/15 and fd00:198:18::/48.
#
#   lab.sh up NAME DIR DLLTLAB   create NAME-pod and NAME-srv, start servers (state in DIR)
#   lab.sh down NAME DIR         stop the servers, delete the namespaces
#
# Server host 198.18.0.1 / fd00:198:18::1:
#   443   openssl s_server, self-signed certificate (TLS 1.2/1.3)
#   8443  openssl s_server, CA-signed, requires a client certificate (-Verify)
#   9443  openssl s_server, CA-signed but expired certificate
#   10443 openssl s_server, CA-signed (healthy)
#   80    nginx; /unavailable answers 503, /upstream-down/ proxies to a
#         closed port (502), /upstream-slow/ to the filtered one (504 after 1 s),
#         /upstream-hang/ to the filtered one with a 30 s timeout (hangs),
#         /upstream-cut/ and /upstream-stall/ to :7003's /cut/ and /stall/;
#         /limited/ is rate-limited (limit_req, 1 request/s per client:
#         429 Too Many Requests with Retry-After)
#   8080  nginx, HTTP/2 without TLS (h2c, prior knowledge); /limited/ as on :80;
#         /unavailable
#         answers 503, gRPC health calls are proxied (grpc_pass) to a
#         closed port (502), /upstream-hang/ hangs as on :80
#   50051 grpc-go server with the standard health service (grpcpeer, built
#         from lab/grpcpeer next to DLLTLAB): service "ok" is SERVING,
#         others NOT_FOUND, unknown methods UNIMPLEMENTED; "slow" answers
#         after 10 s
#   9092  a Kafka broker (kafkapeer, built from lab/kafkapeer next to
#         DLLTLAB: franz-go's kfake) with SASL PLAIN and ACLs: app/secret
#         may use topic orders and group app-group only; admin/admin is a
#         superuser; topics orders and audit; no topic made on first use;
#         batches over 100 kB refused
#   27017 FerretDB, a MongoDB-compatible server (only with LAB_MONGODB=1):
#         user app, password secret, in database app; its client mongopeer
#         (lab/mongopeer, the official Go driver) is built next to DLLTLAB
#   8081  nginx behind a path MTU black hole: the pod drops packets over
#         1200 bytes from this port (iptables in the pod, past the capture
#         point), so large responses are resent until the client gives up
#   8082  nginx closing idle keep-alive connections after 1 s (keepalive_timeout); IPv6 to
#         this port is dropped (ip6tables), nginx listens on IPv4 only
#   9543  nginx over TLS requiring a client certificate (ssl_verify_client on):
#         a client without one completes the handshake and gets "400 No
#         required SSL certificate was sent"; 9544 asks for one (optional)
#   9545  nginx over TLS (OpenSSL: two session tickets after a TLS 1.3 handshake);
#         /upstream-hang/ hangs as on :80
#   9546  the same with HTTP/2 (ALPN h2), IPv4 and IPv6
#   53    dnsmasq: *.demo.test is local (unknown names: NXDOMAIN), others REFUSED;
#         noaddr.demo.test has only a TXT record (A and AAAA: NODATA),
#         v6only.demo.test only an IPv6 address (A: NODATA); www.demo.test
#         only an IPv4 address, and dnsmasq answers NXDOMAIN for its AAAA; dual.demo.test
#         has both, and IPv6 to its :8082 is dropped (a broken IPv6 path:
#         dual-stack clients fall back to IPv4)
#   7000  a server that resets every connection (SO_LINGER 0); /partial
#         first sends headers and 64 KiB of body
#   7001  a server that reads nothing for 2 s after accepting (zero window)
#   7002  a server that accepts and never reads or answers (a hung application)
#   7700  a server that never accepts, its listen backlog 0 (an application
#         stuck before its accept loop): one handshake completes into the
#         accept queue, later SYNs are dropped (dlltlab stuck-server)
#   7003  a Go net/http server whose answers break off (/cut/, /cut-chunked)
#         or stall (/stall/) in the middle of their body, or come after 4 s
#         (/slow/: slow, but answered); /whole and
#         /chunked are complete; URLs with "big" in them get ~5 KB of
#         header, sent in two segments; /dependency-down answers 503 with
#         Go's http.Error, its own dependency refused (dlltlab partial-server)
#   7443  the same Go server over TLS (1.2 and 1.3, HTTP/1.1 and HTTP/2, session
#         tickets); /hang/... sends nothing for 60 s, /slow answers after 1.5 s
#   7444  TLS 1.3 asking for a client certificate and closing without an
#         alert when none comes, as Java servers do (dlltlab mtls-quiet-server)
#   3128  a forward proxy for CONNECT (HTTPS_PROXY) and plain HTTP in absolute form
#         (HTTP_PROXY, one request a connection) with an egress allow-list: lab
#         addresses only (others 403, names too); 3129 the same, requiring
#         Proxy-Authorization lab:secret (407)
#   5432  PostgreSQL with TLS (ssl = on, the CA-signed certificate); pg_hba.conf
#         lets user app (password secret) in from anywhere by scram-sha-256,
#         user tlsonly only over TLS, nobody else; database shop
#   5433  PostgreSQL without TLS, max_connections 4 (one for superusers)
#   3306  MariaDB with TLS (the CA-signed certificate; clients choose): user
#         app (password secret) may connect from anywhere, database shop;
#         max_connections 10
#   3307  MariaDB, read-only (--read-only); app may connect only from
#         198.18.0.0/24 (the pod's IPv6 address gets error 1130)
#   6432  PgBouncer before the :5433 server, pool_mode transaction, 2 server
#         connections per pool, max_client_conn 8, query_wait_timeout 2 s,
#         client_idle_timeout 4 s; users app/secret (from its auth_file);
#         databases shop, nosuch (whose server database does not exist),
#         badlogin (for which PgBouncer holds a wrong password) and
#         unreachable (its server is the filtered :9999)
#   5672  RabbitMQ, only with LAB_RABBITMQ=1: vhost shop, users app/secret (all
#         permissions) and limited/secret (read only)
#   4222  nats-server, only with LAB_NATS=1: max_connections 4, max_payload
#         1024, authorization timeout 1 s; users app/secret, and limited/secret
#         who may publish and subscribe only under public.>
#   6379  Redis with requirepass s3cret; 6380 a read-only replica of it;
#         6381 maxclients 1; 6382 maxmemory 100kb, noeviction (every write: OOM)
#   9999  filtered: iptables DROP
#   9998  rejected: iptables REJECT with ICMP/ICMPv6 port unreachable
# Lossy host 198.18.0.3 (same namespace): nginx :80 and dnsmasq :53 behind
# iptables rules that drop the first SYN and the first DNS query of each
# client address (the "recent" match); retransmissions get through. Its
# dnsmasq also answers NXDOMAIN for *.cluster.local, so a pod-style search
# list (LOCALDOMAIN="ns1.svc.cluster.local svc.cluster.local cluster.local"
# RES_OPTIONS=ndots:5) walks through NXDOMAINs as in Kubernetes; it has
# noaddr.demo.test, v6only.demo.test and dual.demo.test as on 198.18.0.1.
# Overlay: two VXLAN tunnels between the pod and the server host over
# their eth0, as pod traffic crosses nodes in Flannel, Calico VXLAN or
# Cilium clusters (a capture on eth0 sees it encapsulated): vx0 (VNI 1, UDP
# 8472 as Flannel and the kernel use, over IPv4) joins 198.18.244.2 to
# 198.18.244.1; vx1 (VNI 42, UDP 4789, over IPv6) joins 198.18.245.2 /
# fd00:198:18:245::2 to 198.18.245.1 / fd00:198:18:245::1. The servers
# that listen on every address (openssl), nginx :80 and dnsmasq (on
# 198.18.244.1) answer through them too.
# Client pod: 198.18.0.2 / fd00:198:18::2; its resolver (glibc, through
# /etc/netns/NAME-pod/resolv.conf, which `ip netns exec` mounts) asks the
# lossy host, with a 2 s timeout.
set -euo pipefail

cmd=${1:?usage}; name=${2:?name}; dir=${3:?dir}
pod=$name-pod; srv=$name-srv
in_srv() { ip netns exec "$srv" "$@"; }

down() {
  # Every process still inside the namespaces goes too: servers started
  # by hand or by a test, and any a pid file missed (a process outlives
  # a deleted namespace).
  local p ns_pids
  ns_pids=$( (ip netns pids "$srv"; ip netns pids "$pod") 2>/dev/null || true)
  if [ -f "$dir/pids" ]; then
    ns_pids="$ns_pids $(cat "$dir/pids")"
    rm -f "$dir/pids"
  fi
  for p in $ns_pids; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in $ns_pids; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$pod" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  rm -rf "/etc/netns/$pod"
  if [ -f "$dir/dbdir" ]; then
    rm -rf "$(cat "$dir/dbdir")" "$dir/dbdir"
  fi
}

bg_srv() { # run a server in the server namespace, remember its pid
  local log=$1; shift
  # exec: the background subshell becomes the server (ip netns exec execs
  # it too), so $! is the server's own pid, the one down must kill.
  (exec ip netns exec "$srv" "$@") >"$dir/$log.log" 2>&1 < /dev/null &
  echo $! >> "$dir/pids"
}

wait_port() { # wait up to 5 s for a TCP or UDP listener on the server [on ADDR]
  local proto=$1 port=$2 filter="sport = :$2"
  [ -n "${3:-}" ] && filter="src $3 and sport = :$2"
  for _ in $(seq 50); do
    if in_srv ss -H -ln"${proto}" "$filter" | grep -q .; then return 0; fi
    sleep 0.1
  done
  echo "lab: server on $proto/$port did not start (see $dir/*.log)" >&2
  return 1
}

databases() { # PostgreSQL, MariaDB and Redis servers (see the top of this file)
  local bin d port db pg my
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$bin/postgres" ] || { echo "lab: PostgreSQL's server is missing (scripts/install-deps.sh installs it)" >&2; return 1; }
  # The data directories are the postgres user's, outside $dir (whose
  # parents may be closed to it: a test's temporary directory).
  db=$(mktemp -d /tmp/dlltagent-db.XXXXXX)
  echo "$db" >"$dir/dbdir"
  chmod 755 "$db"
  pg=$db/pg my=$db/my
  mkdir "$pg" "$my"
  chown postgres "$pg"
  chown mysql "$my"
  for port in 5432 5433; do
    d=$pg/$port
    runuser -u postgres -- "$bin/initdb" -D "$d" -U postgres --auth=trust >"$dir/initdb-$port.log" 2>&1 ||
      { echo "lab: initdb failed:" >&2; cat "$dir/initdb-$port.log" >&2; return 1; }
    install -o postgres -m 600 "$dir/certs/server.pem" "$dir/certs/server-key.pem" "$d/"
    {
      echo "listen_addresses = '198.18.0.1,fd00:198:18::1'"
      echo "port = $port"
      echo "unix_socket_directories = '$pg'"
      echo "fsync = off"
      echo "shared_buffers = 16MB"
      if [ "$port" = 5432 ]; then
        echo "ssl = on"; echo "ssl_cert_file = 'server.pem'"; echo "ssl_key_file = 'server-key.pem'"; echo "max_connections = 20"
      else
        echo "ssl = off"; echo "max_connections = 4"; echo "superuser_reserved_connections = 1"
      fi
    } >>"$d/postgresql.conf"
    printf '%s\n' "local all all trust" "hostssl all tlsonly 0.0.0.0/0 scram-sha-256" "hostssl all tlsonly ::/0 scram-sha-256" \
      "host all app 0.0.0.0/0 scram-sha-256" "host all app ::/0 scram-sha-256" >"$d/pg_hba.conf"
    bg_srv "postgres-$port" runuser -u postgres -- "$bin/postgres" -D "$d"
  done
  # PgBouncer refuses to run as root: its files are the postgres user's.
  mkdir "$db/pgb"
  printf '"app" "secret"\n' >"$db/pgb/users.txt"
  cat >"$db/pgb/pgbouncer.ini" <<INI
[databases]
shop = host=198.18.0.1 port=5433 dbname=shop
nosuch = host=198.18.0.1 port=5433 dbname=nosuch
badlogin = host=198.18.0.1 port=5433 dbname=shop user=app password=wrong
unreachable = host=198.18.0.1 port=9999 dbname=shop
[pgbouncer]
listen_addr = 198.18.0.1,fd00:198:18::1
listen_port = 6432
unix_socket_dir = $db/pgb
auth_type = scram-sha-256
auth_file = $db/pgb/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 8
query_wait_timeout = 2
client_idle_timeout = 4
server_login_retry = 1
logfile = $db/pgb/pgbouncer.log
pidfile = $db/pgb/pgbouncer.pid
INI
  chown -R postgres "$db/pgb"
  if command -v pgbouncer >/dev/null; then
    bg_srv pgbouncer runuser -u postgres -- pgbouncer "$db/pgb/pgbouncer.ini"
  else
    echo "lab: PgBouncer is missing (scripts/install-deps.sh installs it)" >&2
    return 1
  fi
  for port in 3306 3307; do
    # Each server its own tmpdir: a MariaDB server starting removes every
    # "#sql*" file of its tmpdir, and with /tmp shared it removed the
    # temporary tables of another lab's mariadb-install-db running at the
    # same moment (tests run labs in parallel): "Unknown table
    # 'mysql.tmp_user_sys'".
    install -d -o mysql -m 700 "$my/tmp-$port"
    mariadb-install-db --user=mysql --datadir="$my/$port" --tmpdir="$my/tmp-$port" --auth-root-authentication-method=normal --skip-test-db >"$dir/mariadb-install-$port.log" 2>&1 ||
      { echo "lab: mariadb-install-db failed:" >&2; cat "$dir/mariadb-install-$port.log" >&2; return 1; }
    set -- --no-defaults --user=mysql --datadir="$my/$port" --tmpdir="$my/tmp-$port" --port="$port" --bind-address=198.18.0.1,fd00:198:18::1 \
      --socket="$my/$port.sock" --pid-file="$my/$port.pid" --skip-name-resolve --max-connections=10
    if [ "$port" = 3306 ]; then
      install -o mysql -m 600 "$dir/certs/server.pem" "$dir/certs/server-key.pem" "$my/"
      set -- "$@" --ssl-cert="$my/server.pem" --ssl-key="$my/server-key.pem"
    else
      set -- "$@" --read-only=1
    fi
    bg_srv "mariadb-$port" mariadbd "$@"
  done
  for port in 6379 6380 6381 6382; do
    set -- --port "$port" --bind 198.18.0.1 fd00:198:18::1 --protected-mode no --save '' --appendonly no --dir "$dir"
    case $port in
      6379) set -- "$@" --requirepass s3cret ;;
      6380) set -- "$@" --replicaof 198.18.0.1 6379 --masterauth s3cret ;;
      6381) set -- "$@" --maxclients 1 ;;
      6382) set -- "$@" --maxmemory 100kb --maxmemory-policy noeviction ;; # below its own use: every write fails
    esac
    bg_srv "redis-$port" redis-server "$@"
  done
}

database_users() { # the databases' users and tables, once they listen
  local port db pg my
  db=$(cat "$dir/dbdir")
  pg=$db/pg my=$db/my
  for port in 5432 5433; do
    for _ in $(seq 50); do
      runuser -u postgres -- psql -q -h "$pg" -p "$port" -U postgres -c 'select 1' >/dev/null 2>&1 && break
      sleep 0.1
    done
    runuser -u postgres -- psql -q -h "$pg" -p "$port" -U postgres >"$dir/roles-$port.log" 2>&1 <<'SQL'
CREATE ROLE app LOGIN PASSWORD 'secret';
CREATE ROLE tlsonly LOGIN PASSWORD 'secret';
CREATE DATABASE shop OWNER app;
SQL
    runuser -u postgres -- psql -q -h "$pg" -p "$port" -U app shop \
      -c "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');" >>"$dir/roles-$port.log" 2>&1
  done
  # MariaDB: app may connect from anywhere to :3306, only from
  # 198.18.0.0/24 to :3307 (so the pod's IPv6 address gets error 1130).
  for port in 3306 3307; do
    local host=%
    [ "$port" = 3307 ] && host=198.18.0.%
    for _ in $(seq 100); do
      mariadb --no-defaults -S "$my/$port.sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
      sleep 0.1
    done
    mariadb --no-defaults -S "$my/$port.sock" -uroot >"$dir/roles-$port.log" 2>&1 -e "CREATE DATABASE shop; \
      CREATE USER app@'$host' IDENTIFIED BY 'secret'; GRANT ALL ON shop.* TO app@'$host'; \
      CREATE TABLE shop.items (id int PRIMARY KEY, name text); INSERT INTO shop.items VALUES (1, 'one');"
  done
}

rabbitmq() { # RabbitMQ on :5672, only with LAB_RABBITMQ=1 (it takes ~8 s to start)
  local r
  r=$(cat "$dir/dbdir")/rmq
  command -v rabbitmq-server >/dev/null ||
    { echo "lab: LAB_RABBITMQ=1 needs rabbitmq-server (apt-get install rabbitmq-server python3-pika)" >&2; return 1; }
  mkdir -p "$r/mnesia" "$r/log"
  printf '%s\n' "listeners.tcp.1 = 198.18.0.1:5672" "listeners.tcp.2 = fd00:198:18::1:5672" >"$r/rabbitmq.conf"
  chown -R rabbitmq "$r"
  local env=(runuser -u rabbitmq -- env HOME="$r" RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE="$r/mnesia"
    RABBITMQ_LOG_BASE="$r/log" RABBITMQ_CONFIG_FILE="$r/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$r/plugins" RABBITMQ_PID_FILE="$r/pid")
  bg_srv rabbitmq "${env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
  for _ in $(seq 300); do
    in_srv ss -H -lnt "sport = :5672" | grep -q . && break
    sleep 0.1
  done
  # app/secret may do anything in vhost shop; limited/secret may only read.
  rmqctl add_vhost shop && rmqctl add_user app secret && rmqctl set_permissions -p shop app '.*' '.*' '.*' &&
    rmqctl add_user limited secret && rmqctl set_permissions -p shop limited '^$' '^$' '.*'
}

nats() { # nats-server on :4222, only with LAB_NATS=1 (built from the module proxy)
  local bin
  bin=$(dirname "$1")/nats-server
  [ -x "$bin" ] || GOBIN=$(dirname "$bin") go install github.com/nats-io/nats-server/v2@v2.15.2 ||
    { echo "lab: could not build nats-server" >&2; return 1; }
  cat >"$dir/nats.conf" <<'CONF'
listen: "[::]:4222"
max_connections: 4
max_payload: 1024
authorization {
  timeout: 1
  users: [
    {user: app, password: secret}
    {user: limited, password: secret, permissions: {publish: {allow: ["public.>"]}, subscribe: {allow: ["public.>", "_INBOX.>"]}}}
  ]
}
CONF
  bg_srv nats-server "$bin" -c "$dir/nats.conf"
  wait_port t 4222
}

mongodb() { # FerretDB on :27017, only with LAB_MONGODB=1: a MongoDB-compatible server in Go
  # (SQLite storage, SCRAM logins; no MongoDB server runs here), built from
  # the module proxy's source of its v1.24.2 release. That source lacks the
  # version file its release build generates (bin/task gen-version), which
  # its command requires: written here, then built in a copy.
  local bin src
  bin=$(dirname "$1")/ferretdb
  if [ ! -x "$bin" ]; then
    src=$(go mod download -json github.com/FerretDB/FerretDB@v1.24.2 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$src" ] || { echo "lab: could not download FerretDB" >&2; return 1; }
    rm -rf "$dir/ferretdb-src"
    cp -r "$src" "$dir/ferretdb-src" && chmod -R u+w "$dir/ferretdb-src"
    echo v1.24.2 >"$dir/ferretdb-src/build/version/version.txt"
    (cd "$dir/ferretdb-src" && go build -o "$bin" ./cmd/ferretdb) || { echo "lab: could not build FerretDB" >&2; return 1; }
    rm -rf "$dir/ferretdb-src"
  fi
  (cd "$(dirname "$0")/../lab/mongopeer" && go build -o "$(dirname "$1")/mongopeer" .) # the client: its own module (the Go driver)
  mkdir -p "$dir/ferretdb"
  # User app (password secret), created in database app.
  bg_srv ferretdb "$bin" --handler=sqlite --sqlite-url="file:$dir/ferretdb/" --listen-addr=198.18.0.1:27017 \
    --debug-addr=- --telemetry=disable --log-level=warn --state-dir="$dir/ferretdb" \
    --test-enable-new-auth --setup-database=app --setup-username=app --setup-password=secret
  wait_port t 27017
}

rmqctl() { # rabbitmqctl against the lab's RabbitMQ (uses rabbitmq's env)
  in_srv "${env[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -q -n rabbit@localhost "$@" >>"$dir/rabbitmq-ctl.log" 2>&1 ||
    { echo "lab: rabbitmqctl $* failed (see $dir/rabbitmq-ctl.log)" >&2; return 1; }
}

overlay() { # overlay NS SELF PEER: the VXLAN devices of one side
  local ns=$1 me=$2 peer=$3
  ip -n "$ns" link add vx0 type vxlan id 1 dstport 8472 local "198.18.0.$me" remote "198.18.0.$peer" dev eth0
  ip -n "$ns" link add vx1 type vxlan id 42 dstport 4789 local "fd00:198:18::$me" remote "fd00:198:18::$peer" dev eth0
  ip -n "$ns" addr add "198.18.244.$me/24" dev vx0
  ip -n "$ns" addr add "198.18.245.$me/24" dev vx1
  ip -n "$ns" addr add "fd00:198:18:245::$me/64" dev vx1 nodad
  ip -n "$ns" link set vx0 up
  ip -n "$ns" link set vx1 up
}

up() {
  local lab=${4:?dlltlab binary}
  down
  mkdir -p "$dir/www" "$dir/nginx"
  chmod 755 "$dir" "$dir/www" # nginx's worker runs as an unprivileged user
  : > "$dir/pids"
  ip netns add "$pod"
  ip netns add "$srv"
  mkdir -p "/etc/netns/$pod"
  printf 'nameserver 198.18.0.3\noptions timeout:2 attempts:2\n' > "/etc/netns/$pod/resolv.conf"
  ip link add eth0 netns "$pod" type veth peer name eth0 netns "$srv"
  ip -n "$pod" addr add 198.18.0.2/24 dev eth0
  ip -n "$srv" addr add 198.18.0.1/24 dev eth0
  ip -n "$srv" addr add 198.18.0.3/24 dev eth0
  ip -n "$pod" addr add fd00:198:18::2/64 dev eth0 nodad
  ip -n "$srv" addr add fd00:198:18::1/64 dev eth0 nodad
  for ns in "$pod" "$srv"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
  done
  overlay "$pod" 2 1
  overlay "$srv" 1 2
  in_srv iptables -A INPUT -p tcp --dport 9999 -j DROP
  in_srv ip6tables -A INPUT -p tcp --dport 9999 -j DROP 2>/dev/null || true
  in_srv iptables -A INPUT -p tcp --dport 9998 -j REJECT --reject-with icmp-port-unreachable
  in_srv iptables -A INPUT -d 198.18.0.3 -p tcp --dport 80 --syn -m recent --name firstsyn --rcheck -j ACCEPT
  in_srv iptables -A INPUT -d 198.18.0.3 -p tcp --dport 80 --syn -m recent --name firstsyn --set -j DROP
  in_srv iptables -A INPUT -d 198.18.0.3 -p udp --dport 53 -m recent --name firstquery --rcheck -j ACCEPT
  in_srv iptables -A INPUT -d 198.18.0.3 -p udp --dport 53 -m recent --name firstquery --set -j DROP
  in_srv ip6tables -A INPUT -p tcp --dport 9998 -j REJECT --reject-with icmp6-port-unreachable 2>/dev/null || true
  in_srv ip6tables -A INPUT -p tcp --dport 8082 -j DROP 2>/dev/null || true
  ip netns exec "$pod" iptables -A INPUT -p tcp -s 198.18.0.1 --sport 8081 -m length --length 1201:65535 -j DROP

  "$lab" certs "$dir/certs"
  local c=$dir/certs
  bg_srv tls-selfsigned openssl s_server -accept 443 -cert "$c/selfsigned.pem" -key "$c/selfsigned-key.pem" -www -quiet
  bg_srv tls-mtls openssl s_server -accept 8443 -cert "$c/server.pem" -key "$c/server-key.pem" -CAfile "$c/ca.pem" -Verify 1 -verify_return_error -www -quiet
  bg_srv tls-expired openssl s_server -accept 9443 -cert "$c/expired.pem" -key "$c/expired-key.pem" -www -quiet
  bg_srv tls-ok openssl s_server -accept 10443 -cert "$c/server.pem" -key "$c/server-key.pem" -www -quiet

  echo '<h1>dlltagent demo</h1>' > "$dir/www/index.html"
  head -c 3000000 /dev/zero > "$dir/www/big.bin"
  head -c 200000 /dev/zero > "$dir/www/mid.bin"
  cat > "$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
user root; # the state directory may be a 0700 test directory
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  limit_req_zone \$binary_remote_addr zone=perclient:1m rate=1r/s;
  server {
    listen 198.18.0.1:80;
    listen 198.18.0.3:80;
    listen [fd00:198:18::1]:80;
    listen 198.18.244.1:80;
    listen [fd00:198:18:245::1]:80;
    root $dir/www;
    limit_rate 1m;
    location = /unavailable { return 503; }
    location /upstream-down/ { proxy_pass http://127.0.0.1:1/; }
    location /upstream-slow/ { proxy_pass http://198.18.0.1:9999/; proxy_connect_timeout 1s; }
    location /upstream-hang/ { proxy_pass http://198.18.0.1:9999/; proxy_connect_timeout 30s; }
    location /upstream-cut/ { proxy_pass http://198.18.0.1:7003/cut/; }
    location /upstream-stall/ { proxy_pass http://198.18.0.1:7003/stall/; proxy_read_timeout 60s; }
    location /limited/ {
      limit_req zone=perclient;
      limit_req_status 429;
      add_header Retry-After 1 always;
      rewrite ^ /index.html break; # a file: a return would answer before the limit
    }
  }
  server {
    listen 198.18.0.1:8081;
    root $dir/www;
  }
  # The TLS servers (9543-9546) share the lab's server certificate.
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate $c/server.pem;
  ssl_certificate_key $c/server-key.pem;
  ssl_client_certificate $c/ca.pem;
  server {
    listen 198.18.0.1:9543 ssl;
    ssl_verify_client on;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 198.18.0.1:9544 ssl;
    ssl_verify_client optional;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 198.18.0.1:9545 ssl;
    root $dir/www;
    location /upstream-hang/ { proxy_pass http://198.18.0.1:9999/; proxy_connect_timeout 30s; }
  }
  server {
    listen 198.18.0.1:9546 ssl http2;
    listen [fd00:198:18::1]:9546 ssl http2;
    root $dir/www;
    location /upstream-hang/ { proxy_pass http://198.18.0.1:9999/; proxy_connect_timeout 30s; }
  }
  server {
    listen 198.18.0.1:8082;
    root $dir/www;
    keepalive_timeout 1s;
  }
  server {
    listen 198.18.0.1:8080 http2;
    listen [fd00:198:18::1]:8080 http2;
    root $dir/www;
    location = /unavailable { return 503; }
    location /grpc.health.v1.Health/ { grpc_pass grpc://127.0.0.1:1; }
    location /upstream-hang/ { proxy_pass http://198.18.0.1:9999/; proxy_connect_timeout 30s; }
    location /limited/ {
      limit_req zone=perclient;
      limit_req_status 429;
      add_header Retry-After 1 always;
      rewrite ^ /index.html break; # a file: a return would answer before the limit
    }
  }
}
CONF
  bg_srv nginx nginx -c "$dir/nginx/nginx.conf"
  bg_srv dnsmasq dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=198.18.0.1,198.18.244.1 --bind-interfaces --local=/demo.test/ \
    --address=/www.demo.test/198.18.0.1 --address=/api.demo.test/198.18.0.1 \
    --txt-record=noaddr.demo.test,"no address" --host-record=v6only.demo.test,fd00:198:18::1 \
    --host-record=dual.demo.test,198.18.0.1,fd00:198:18::1 \
    --pid-file="$dir/dnsmasq.pid" --user=root
  bg_srv dnsmasq-lossy dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=198.18.0.3 --bind-interfaces --local=/demo.test/ \
    --local=/cluster.local/ --address=/www.demo.test/198.18.0.3 --address=/www.demo.test/fd00:198:18::3 \
    --txt-record=noaddr.demo.test,"no address" --host-record=v6only.demo.test,fd00:198:18::1 \
    --host-record=dual.demo.test,198.18.0.1,fd00:198:18::1 \
    --pid-file="$dir/dnsmasq-lossy.pid" --user=root
  bg_srv rst-server "$lab" rst-server 198.18.0.1:7000
  bg_srv stall-server "$lab" stall-server 198.18.0.1:7001
  bg_srv silent-server "$lab" silent-server 198.18.0.1:7002
  bg_srv stuck-server "$lab" stuck-server 198.18.0.1:7700
  bg_srv partial-server "$lab" partial-server :7003
  bg_srv mtls-quiet "$lab" mtls-quiet-server 198.18.0.1:7444 "$c"
  bg_srv partial-tls "$lab" partial-server 198.18.0.1:7443 "$c"
  bg_srv connect-proxy "$lab" connect-proxy 198.18.0.1:3128
  bg_srv connect-proxy-auth "$lab" connect-proxy 198.18.0.1:3129 lab:secret
  databases
  local peer
  peer=$(dirname "$lab")/grpcpeer
  (cd "$(dirname "$0")/../lab/grpcpeer" && go build -o "$peer" .) # its own module: grpc-go
  bg_srv grpcpeer "$peer" serve 198.18.0.1:50051 "[fd00:198:18::1]:50051"
  peer=$(dirname "$lab")/kafkapeer
  (cd "$(dirname "$0")/../lab/kafkapeer" && go build -o "$peer" .) # its own module: franz-go
  bg_srv kafkapeer "$peer" serve 198.18.0.1:9092
  for p in 443 8443 9443 10443 80 8080 8081 8082 7000 7001 7002 7003 7443 7444 7700 3128 3129 50051 9092 6379 6380 6381 6382; do wait_port t "$p"; done
  for p in 5432 5433 6432 3306 3307; do wait_port t "$p"; done
  database_users
  if [ "${LAB_RABBITMQ:-}" = 1 ]; then rabbitmq; fi
  if [ "${LAB_NATS:-}" = 1 ]; then nats "$lab"; fi
  if [ "${LAB_MONGODB:-}" = 1 ]; then mongodb "$lab"; fi
  wait_port u 53 198.18.0.1
  wait_port u 53 198.18.0.3
}

case $cmd in
  up) up "$@" ;;
  down) down ;;
  *) echo "usage: lab.sh up NAME DIR DLLTLAB | down NAME DIR" >&2; exit 2 ;;
esac
