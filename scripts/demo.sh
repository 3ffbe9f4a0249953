#!/usr/bin/env bash
# make demo: stage real failures between network namespaces, watch the
# client "pod" with dlltagent from outside its namespace, and show the
# diagnoses. Needs root (namespaces, AF_PACKET). Everything is removed at
# the end, whatever happens.
set -euo pipefail
BIN=${1:-bin/dlltagent}
here=$(cd "$(dirname "$0")" && pwd)
LAB=$here/../bin/dlltlab
OUT=${DEMO_OUT:-$PWD/demo-out}
NAME=dltdemo
STATE=$(mktemp -d /tmp/dlltagent-demo.XXXXXX)

if [ "$(id -u)" != 0 ]; then
  echo "make demo needs root: it creates network namespaces and captures with AF_PACKET" >&2
  exit 1
fi
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
try() { # run a client in the pod, show one line of what it says
  local what=$1; shift
  printf '    %-58s ' "$what"
  local out
  out=$(ip netns exec "$NAME-pod" timeout 10 "$@" 2>&1 | tr '\n' ' ' | cut -c1-60) || true
  echo "${out:-(no output)}"
}
cleanup() {
  [ -n "${AGENT:-}" ] && kill -TERM "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null || true
  [ -n "${HANG:-}" ] && kill $HANG 2>/dev/null || true
  "$here/lab.sh" down "$NAME" "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

CGO_ENABLED=0 go build -o "$LAB" "$here/../cmd/dlltlab"
step "building the lab: pod $NAME-pod (198.18.0.2) <-veth-> servers $NAME-srv (198.18.0.1)"
LAB_MONGODB=1 "$here/lab.sh" up "$NAME" "$STATE" "$LAB"
echo "    openssl s_server :443 self-signed, :8443 mutual TLS, :9443 expired, :10443 good; nginx :80 (and h2c :8080); grpc-go health service :50051; dnsmasq :53; PostgreSQL :5432 (TLS) and :5433 (no TLS), PgBouncer :6432 before it; MariaDB :3306 and :3307 (read-only); Redis :6379 (password), :6380 (replica), :6382 (full); Kafka :9092 (SASL, ACLs); MongoDB-compatible FerretDB :27017 (logins required); reset server :7000; server that stops reading :7001; :9999 dropped, :9998 rejected; lossy host 198.18.0.3 drops each client's first SYN and first DNS query"

rm -rf "$OUT"
step "starting dlltagent on the pod's eth0 from the host (-netns /var/run/netns/$NAME-pod)"
"$BIN" -i eth0 -netns "/var/run/netns/$NAME-pod" -o "$OUT" -quiet -search-header X-Pepe \
  -stats-interval 2s -debug-addr 127.0.0.1:16061 -workers 2 2> "$STATE/agent.log" &
AGENT=$!
for _ in $(seq 50); do grep -q capturing "$STATE/agent.log" 2>/dev/null && break; sleep 0.1; done
grep -q capturing "$STATE/agent.log" || { cat "$STATE/agent.log" >&2; exit 1; }

C=$STATE/certs
R="--resolve api.demo.test:443:198.18.0.1 --resolve api.demo.test:8443:198.18.0.1 --resolve api.demo.test:9443:198.18.0.1 --resolve api.demo.test:10443:198.18.0.1"
step "running clients in the pod"
printf '    %-58s %s\n' "curl without a timeout to a server that never answers" "(in the background: it waits as long as the demo runs)"
ip netns exec "$NAME-pod" timeout 120 curl -sS -o /dev/null http://198.18.0.1:7002/api/orders >/dev/null 2>&1 &
HANG=$!
printf '    %-58s %s\n' "curl https:// without a timeout to the same server" "(in the background: its ClientHello is never answered)"
ip netns exec "$NAME-pod" timeout 120 curl -sSk -o /dev/null --resolve api.demo.test:7002:198.18.0.1 https://api.demo.test:7002/ >/dev/null 2>&1 &
HANG="$HANG $!"
try "curl TLS 1.3 to a self-signed server (untrusted)" curl -sS $R https://api.demo.test/
try "curl TLS 1.2 to a self-signed server (untrusted)" curl -sS --tls-max 1.2 $R https://api.demo.test/
try "wget (GnuTLS) to the self-signed server: it checks the certificate after the handshake" wget -q --no-hsts -O /dev/null https://198.18.0.1/
try "Go crypto/tls client to the self-signed server" "$LAB" tls-client -sni api.demo.test 198.18.0.1:443
try "curl TLS 1.2 to an expired certificate" curl -sS --tls-max 1.2 --cacert "$C/ca.pem" $R https://api.demo.test:9443/
try "curl TLS 1.3, mutual TLS without a client cert" curl -sS --cacert "$C/ca.pem" $R https://api.demo.test:8443/
try "curl TLS 1.2, mutual TLS without a client cert" curl -sS --tls-max 1.2 --cacert "$C/ca.pem" $R https://api.demo.test:8443/
try "curl TLS 1.3, mutual TLS with a client cert (healthy)" curl -sS -o /dev/null -w 'HTTP %{http_code}' --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client-key.pem" $R https://api.demo.test:8443/
try "curl TLS 1.3 to a trusted server (healthy)" curl -sS -o /dev/null -w 'HTTP %{http_code}' --cacert "$C/ca.pem" $R https://api.demo.test:10443/
try "curl TLS 1.3 to a trusted server under another name (TLS 1.3 hides the certificate)" curl -sS --cacert "$C/ca.pem" --resolve other.demo.test:10443:198.18.0.1 https://other.demo.test:10443/
try "curl TLS 1.2 to a trusted server under another name" curl -sS --tls-max 1.2 --cacert "$C/ca.pem" --resolve other.demo.test:10443:198.18.0.1 https://other.demo.test:10443/
try "curl through an egress proxy (HTTPS_PROXY, CONNECT) to the self-signed server: judged inside the tunnel" curl -sS -x http://198.18.0.1:3128 https://198.18.0.1:443/
try "curl through an egress proxy that requires credentials, without them (407)" curl -sS -x http://198.18.0.1:3129 --cacert "$C/ca.pem" https://198.18.0.1:10443/
try "curl https:// to the plain HTTP port" curl -sS https://198.18.0.1:80/
try "curl http:// to the TLS port" curl -sS http://198.18.0.1:443/
try "curl http:// to the gRPC port (the server speaks only HTTP/2)" curl -sS http://198.18.0.1:50051/
try "psql pointed at the HTTP port" psql -w -X "host=198.18.0.1 port=80 user=app password=x dbname=shop sslmode=disable connect_timeout=3" -c 'select 1'
try "curl to a closed port" curl -sS http://198.18.0.1:81/
try "curl to a filtered port (iptables DROP)" curl -sS --connect-timeout 4 http://198.18.0.1:9999/
try "two curls (4 s timeout) 0.3 s apart to a server that never accepts (its listen backlog full)" sh -c 'curl -sS -m 4 http://198.18.0.1:7700/ & sleep 0.3; curl -sS -m 4 http://198.18.0.1:7700/; wait'
try "curl to a port rejected with ICMP (iptables REJECT)" curl -sS --connect-timeout 3 http://198.18.0.1:9998/
try "dig to a host with no DNS server (ICMP port unreachable)" dig +short +tries=1 +timeout=2 @198.18.0.1 -p 5353 www.demo.test
try "curl with header X-Pepe to nginx (tracked, 3 MB)" curl -sS -o /dev/null -w 'HTTP %{http_code} %{size_download} B' -H 'X-Pepe: 42' http://198.18.0.1/big.bin
try "gRPC-style HTTP/2 without TLS (h2c), header X-Pepe HPACK-coded, to nginx" curl -sS -o /dev/null -w 'HTTP/%{http_version} %{http_code}' --http2-prior-knowledge -H 'X-Pepe: 43' http://198.18.0.1:8080/
try "grpc-go client asks a grpc-go server's health service about an unknown service (NOT_FOUND in the trailers)" "$(dirname "$LAB")/grpcpeer" check 198.18.0.1:50051 payments.v1.Ledger
try "grpc-go client calls a method the server does not have (UNIMPLEMENTED)" "$(dirname "$LAB")/grpcpeer" missing 198.18.0.1:50051
try "grpc-go client with a 1.5 s deadline; the server leaves the call hanging" "$(dirname "$LAB")/grpcpeer" slow 198.18.0.1:50051 1.5s
try "curl over h2c to nginx, which answers 503 (HPACK-coded status)" curl -sS -o /dev/null -w 'HTTP/%{http_version} %{http_code}' --http2-prior-knowledge http://198.18.0.1:8080/unavailable
try "curl through nginx to an upstream that is down (502)" curl -sS -o /dev/null -w 'HTTP %{http_code}' http://198.18.0.1/upstream-down/api
try "curl to a Go service that answers after 4 s (slow, but answered: the \"hangs sometimes\")" curl -sS -o /dev/null -w 'HTTP %{http_code} after %{time_starttransfer} s' http://198.18.0.1:7003/slow/orders
try "curl to a Go service whose own database is down (503, its error in plain text)" curl -sS -o /dev/null -w 'HTTP %{http_code}' http://198.18.0.1:7003/dependency-down
try "curl fetches two URLs nginx rate-limits to 1 request/s (limit_req: 429 for the second)" curl -sS -o /dev/null -o /dev/null -w 'HTTP %{http_code} ' http://198.18.0.1/limited/a http://198.18.0.1/limited/b
try "curl without a client certificate to a server that requires one and closes without an alert (as Java servers do)" curl -sS -o /dev/null --cacert "$C/ca.pem" --resolve api.demo.test:7444:198.18.0.1 https://api.demo.test:7444/
try "curl to nginx over IPv6 (healthy)" curl -sS -o /dev/null -w 'HTTP %{http_code}' "http://[fd00:198:18::1]/"
try "curl to a server that crashes mid-request" curl -sS http://198.18.0.1:7000/
try "curl to a server that dies mid-response (64 KiB sent, then reset)" curl -sS -o /dev/null http://198.18.0.1:7000/partial
try "curl uploads 3 MB to a server that stops reading for 2 s (zero window)" curl -sS -o /dev/null -w 'HTTP %{http_code} after %{time_total} s' -H 'Expect:' --data-binary "@$STATE/www/big.bin" http://198.18.0.1:7001/upload
try "curl (2 s timeout) through nginx to an upstream that hangs" curl -sS -m 2 -o /dev/null http://198.18.0.1/upstream-hang/api
try "curl through nginx to an upstream that fails half-way through a 128 KiB answer (truncated)" curl -sS -o /dev/null http://198.18.0.1/upstream-cut/report.csv
try "curl (2 s timeout) to a Go server that stops sending in the middle of an answer" curl -sS -m 2 -o /dev/null http://198.18.0.1:7003/stall/export
try "curl (2 s timeout) fetches a second URL over HTTPS from a Go server whose handler hangs (inside TLS: only the silence shows)" curl -sS -m 2 --http1.1 -o /dev/null -o /dev/null --cacert "$C/ca.pem" --resolve api.demo.test:7443:198.18.0.1 https://api.demo.test:7443/ https://api.demo.test:7443/hang/report
try "Go's client (2 s timeout), HTTP/2 inside TLS, through nginx to an upstream that hangs (it cancels the stream, keeps the connection)" "$LAB" h2-get -k -timeout 2s https://198.18.0.1:9546/upstream-hang/orders
try "curl fetches a second URL on the same keep-alive connection, which hangs" curl -sS -m 2 -o /dev/null -o /dev/null http://198.18.0.1/ http://198.18.0.1/upstream-hang/second
try "curl (3 s timeout) downloads 3 MB through a path MTU black hole (packets over 1200 bytes dropped)" curl -sS -m 3 -o /dev/null http://198.18.0.1:8081/big.bin
try "a client reuses a keep-alive connection nginx closed after 1 s idle (the keep-alive race)" "$LAB" reuse-get 198.18.0.1:8082 1.5s
try "curl to a host that drops the first SYN (connects 1 s late)" curl -sS -o /dev/null -w 'connected after %{time_connect} s' http://198.18.0.3/
try "glibc lookup via a DNS server whose first query is lost (resolves 2 s late)" getent ahosts www.demo.test
try "glibc with a pod's search list (ndots:5): www.demo.test resolves after 6 NXDOMAIN steps (not failures)" env "LOCALDOMAIN=ns1.svc.cluster.local svc.cluster.local cluster.local" RES_OPTIONS=ndots:5 getent ahosts www.demo.test
try "glibc with a pod's search list: nope.demo.test fails for good (its last A and AAAA answers are reported)" env "LOCALDOMAIN=ns1.svc.cluster.local svc.cluster.local cluster.local" RES_OPTIONS=ndots:5 getent ahosts nope.demo.test
try "across the VXLAN overlay (as pods on two nodes: Flannel's UDP 8472), curl TLS 1.2 to the self-signed server" curl -sS --tls-max 1.2 https://198.18.244.1/
try "across the VXLAN overlay over IPv6 (UDP 4789), curl to a port where nothing listens" curl -sS http://198.18.245.1:80/
try "dig a name that does not exist" dig +short +tries=1 @198.18.0.1 nope.demo.test
try "curl a name that exists but has no address (A and AAAA answered empty: NODATA)" curl -sS -o /dev/null http://noaddr.demo.test/
try "curl -4 a name that has only an IPv6 address" curl -sS -4 -o /dev/null http://v6only.demo.test/
try "curl a dual-stack name whose IPv6 path is dropped (curl falls back to IPv4 after 200 ms)" curl -sS -o /dev/null -w 'HTTP %{http_code} from %{remote_ip} after %{time_connect} s' http://dual.demo.test:8082/
try "dig a name the server refuses" dig +short +tries=1 @198.18.0.1 example.org
try "dig a name that exists (healthy)" dig +short +tries=1 @198.18.0.1 www.demo.test
PG="host=198.18.0.1 user=app dbname=shop"
try "psql with a wrong password" psql -w -X "$PG password=wrong sslmode=disable" -c 'select 1'
try "psql to a database that does not exist" psql -w -X "host=198.18.0.1 user=app password=secret dbname=orders sslmode=disable" -c 'select 1'
try "psql with sslmode=require to a PostgreSQL that has no TLS" psql -w -X "host=198.18.0.1 port=5433 user=app password=secret dbname=shop sslmode=require" -c 'select 1'
try "psql: a query runs past statement_timeout" psql -w -X -q "$PG password=secret sslmode=disable" -c 'set statement_timeout=300' -c 'select pg_sleep(1)'
try "psql over TLS (healthy: its errors would be encrypted)" psql -w -X -tA "$PG password=secret sslmode=require" -c 'select name from items'
try "psql through PgBouncer with a startup parameter it does not pass on" env PGOPTIONS='-c search_path=public' psql -w -X "host=198.18.0.1 port=6432 user=app password=secret dbname=shop" -c 'select 1'
try "psql through PgBouncer to a database its server does not have" psql -w -X "host=198.18.0.1 port=6432 user=app password=secret dbname=nosuch" -c 'select 1'
try "psql stopped 1.5 s into a 4 s query (as by a client's timeout)" timeout -s KILL 1.5 psql -w -X "$PG password=secret sslmode=disable" -c 'select pg_sleep(4)'
try "mariadb client with a wrong password" mariadb --no-defaults --skip-ssl -h 198.18.0.1 -uapp -pwrong shop -e 'select 1'
try "psql over TLS with a wrong password (the error is encrypted, the refusal is not)" psql -w -X "$PG password=wrong sslmode=require" -c 'select 1'
try "mariadb client over IPv6, an address no MariaDB account may connect from" mariadb --no-defaults -h fd00:198:18::1 -P 3307 -uapp -psecret shop -e 'select 1'
try "mariadb client writes to a read-only MariaDB (as to a replica)" mariadb --no-defaults -h 198.18.0.1 -P 3307 -uapp -psecret shop -e "insert into items values (2, 'two')"
try "redis-cli without the password Redis requires" redis-cli -h 198.18.0.1 get session:42
try "redis-cli writes to a read-only replica" redis-cli -h 198.18.0.1 -p 6380 set session:42 x
try "redis-cli writes to a Redis over its maxmemory (noeviction)" redis-cli -h 198.18.0.1 -p 6382 set session:42 x
KAFKA=$(dirname "$LAB")/kafkapeer
try "Kafka producer (franz-go) with a wrong SASL password" "$KAFKA" produce 198.18.0.1:9092 app wrong PLAIN orders 100
try "Kafka producer to a topic that does not exist (and is not created on first use)" "$KAFKA" produce 198.18.0.1:9092 admin admin PLAIN payments 100
try "Kafka producer to a topic its user's ACLs do not allow" "$KAFKA" produce 198.18.0.1:9092 app secret PLAIN audit 100
try "Kafka producer sends a 200 kB record (over the broker's message.max.bytes)" "$KAFKA" produce 198.18.0.1:9092 admin admin PLAIN orders 200000
MONGO=$(dirname "$LAB")/mongopeer
try "MongoDB client (the Go driver) with a wrong password" "$MONGO" "mongodb://app:wrong@198.18.0.1:27017/app" ping
try "MongoDB login to admin; the user is in database app" "$MONGO" "mongodb://app:secret@198.18.0.1:27017/app?authSource=admin" ping
try "MongoDB insert without logging in (the server requires it)" "$MONGO" "mongodb://198.18.0.1:27017/app" insert
try "MongoDB createSearchIndexes (a command only Atlas has)" "$MONGO" "mongodb://app:secret@198.18.0.1:27017/app" search

step "stopping dlltagent (SIGTERM: flush open flows, write pcaps and stats)"
sleep 0.5
kill -TERM "$AGENT"; wait "$AGENT" || true; AGENT=
kill $HANG 2>/dev/null || true; HANG=
echo
"$BIN" summary "$OUT"
echo
echo "Records: $OUT/netevents.jsonl, $OUT/end_flows.jsonl, $OUT/stats.jsonl; pcaps: $OUT/pcaps/ (open them in Wireshark)"
