//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/internal/proctest"
)

// needRoot skips live tests without root, and fails them (rather than
// skipping) when root is there but a tool they need is missing.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture tests need root (network namespaces, AF_PACKET); run `sudo make test`")
	}
	for _, tool := range []string{"ip", "openssl", "curl", "nginx", "dnsmasq", "dig", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
				t.Fatalf("%s is missing: run `make test` (it installs the test tools)", tool)
			}
		}
	}
}

type lab struct {
	name, dir, labBin string
}

func startLab(t *testing.T, name string) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{name: name, dir: dir, labBin: filepath.Join(filepath.Dir(bin), "dlltlab")}
	if out, err := exec.Command("go", "build", "-o", l.labBin, "../dlltlab").CombinedOutput(); err != nil {
		t.Fatalf("build dlltlab: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("../../scripts/lab.sh", "down", name, dir).Run() })
	if out, err := exec.Command("../../scripts/lab.sh", "up", name, dir, l.labBin).CombinedOutput(); err != nil {
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	return l
}

// inPod runs a client in the pod namespace; failures are expected.
func (l *lab) inPod(args ...string) string {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.name + "-pod", "timeout", "10"}, args...)...)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

type agent struct {
	cmd    *exec.Cmd
	out    string
	stderr *os.File
}

func startAgent(t *testing.T, l *lab, extra ...string) *agent {
	t.Helper()
	out := filepath.Join(l.dir, "agent-out")
	errf, _ := os.Create(filepath.Join(l.dir, "agent.stderr"))
	args := append([]string{"-i", "eth0", "-netns", "/var/run/netns/" + l.name + "-pod", "-o", out, "-quiet",
		"-workers", "2", "-debug-addr", "", "-stats-interval", "1s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, out: out, stderr: errf}
	t.Cleanup(func() { cmd.Process.Kill() })
	for i := 0; i < 50; i++ {
		b, _ := os.ReadFile(errf.Name())
		if strings.Contains(string(b), "capturing on") {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(errf.Name())
	t.Fatalf("agent did not start: %s", b)
	return nil
}

// stop sends SIGTERM and requires a clean exit within 5 s.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	took, err := proctest.Terminate(a.cmd, 5*time.Second)
	if err != nil {
		b, _ := os.ReadFile(a.stderr.Name())
		t.Fatalf("agent exit: %v\n%s", err, b)
	}
	t.Logf("agent exited %v after SIGTERM", took.Round(time.Millisecond))
}

func records(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestLiveDiagnoses(t *testing.T) {
	needRoot(t)
	l := startLab(t, "dltt1")
	a := startAgent(t, l, "-search-header", "x-pepe", "-syn-timeout", "1500ms")
	c := filepath.Join(l.dir, "certs")
	res := func(p int) string { return fmt.Sprintf("api.demo.test:%d:198.18.0.1", p) }
	type step struct {
		name string
		args []string
		note string // expected note ("" = healthy: no event)
		side string
		port float64
	}
	peer := filepath.Join(filepath.Dir(l.labBin), "grpcpeer") // built by lab.sh
	steps := []step{
		{"curl tls1.3 untrusted", []string{"curl", "-sS", "--resolve", res(443), "https://api.demo.test/"}, "TLS_ALERT", "client", 443},
		{"curl tls1.2 untrusted", []string{"curl", "-sS", "--tls-max", "1.2", "--resolve", res(443), "https://api.demo.test/"}, "TLS_ALERT", "client", 443},
		{"wget untrusted (GnuTLS: resets after the handshake)", []string{"wget", "-q", "--no-hsts", "-O", "/dev/null", "https://198.18.0.1/"}, "TCP_RESET", "client", 443},
		{"curl through a CONNECT proxy (HTTPS_PROXY) to the untrusted server: judged inside the tunnel", []string{"curl", "-sS", "-x", "http://198.18.0.1:3128", "https://198.18.0.1:443/"}, "TLS_ALERT", "client", 3128},
		{"a CONNECT proxy's egress allow-list refuses the destination (403)", []string{"curl", "-sS", "-x", "http://198.18.0.1:3128", "https://example.invalid/"}, "HTTP_SERVER_ERROR", "server", 3128},
		{"https to the plain http port", []string{"curl", "-sS", "https://198.18.0.1:80/"}, "TLS_HANDSHAKE_ABORTED", "server", 80},
		{"http to the tls port", []string{"curl", "-sS", "http://198.18.0.1:443/"}, "HTTP_EMPTY_REPLY", "server", 443},
		{"http to Go's tls port (400: plain HTTP to an HTTPS server)", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7443/"}, "HTTP_SERVER_ERROR", "client", 7443},
		{"http/1.1 to the grpc port (HTTP/2 only)", []string{"curl", "-sS", "http://198.18.0.1:50051/"}, "PROTOCOL_MISMATCH", "client", 50051},
		{"psql to the http port", []string{"psql", "-w", "-X", "host=198.18.0.1 port=80 user=app password=x dbname=shop sslmode=disable connect_timeout=3", "-c", "select 1"}, "PROTOCOL_MISMATCH", "client", 80},
		{"curl tls1.2 wrong name", []string{"curl", "-sS", "--tls-max", "1.2", "--cacert", c + "/ca.pem", "--resolve", "other.demo.test:10443:198.18.0.1", "https://other.demo.test:10443/"}, "TLS_NAME_MISMATCH", "client", 10443},
		{"curl tls1.3 wrong name (checked after the handshake)", []string{"curl", "-sS", "--cacert", c + "/ca.pem", "--resolve", "other.demo.test:10443:198.18.0.1", "https://other.demo.test:10443/"}, "TLS_REJECTED_ENCRYPTED", "client", 10443},
		{"go client untrusted", []string{l.labBin, "tls-client", "-sni", "api.demo.test", "198.18.0.1:443"}, "TLS_REJECTED_ENCRYPTED", "client", 443},
		{"expired", []string{"curl", "-sS", "--tls-max", "1.2", "--cacert", c + "/ca.pem", "--resolve", res(9443), "https://api.demo.test:9443/"}, "TLS_ALERT", "client", 9443},
		{"mtls 1.3 no cert", []string{"curl", "-sS", "--cacert", c + "/ca.pem", "--resolve", res(8443), "https://api.demo.test:8443/"}, "TLS_REJECTED_ENCRYPTED", "server", 8443},
		{"mtls 1.2 no cert", []string{"curl", "-sS", "--tls-max", "1.2", "--cacert", c + "/ca.pem", "--resolve", res(8443), "https://api.demo.test:8443/"}, "TLS_ALERT", "server", 8443},
		{"closed port", []string{"curl", "-sS", "http://198.18.0.1:81/"}, "TCP_REFUSED", "server", 81},
		{"filtered port", []string{"curl", "-sS", "--connect-timeout", "2", "http://198.18.0.1:9999/"}, "TCP_NO_ANSWER", "server", 9999},
		{"two curls 0.3 s apart to a server that never accepts (backlog 0): the first waits in its accept queue, the second's SYNs are dropped", []string{"sh", "-c", "curl -sS -m 3 http://198.18.0.1:7700/ & sleep 0.3; curl -sS -m 3 http://198.18.0.1:7700/; wait"}, "TCP_NO_ANSWER", "server", 7700},
		{"", nil, "HTTP_NO_RESPONSE", "server", 7700}, // the first, at its timeout
		{"reset", []string{"curl", "-sS", "http://198.18.0.1:7000/"}, "TCP_RESET", "server", 7000},
		{"reset mid-response", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7000/partial"}, "TCP_RESET", "server", 7000},
		{"icmp reject", []string{"curl", "-sS", "--connect-timeout", "2", "http://198.18.0.1:9998/"}, "ICMP_UNREACHABLE", "server", 9998},
		{"icmp reject v6", []string{"curl", "-sS", "--connect-timeout", "2", "http://[fd00:198:18::1]:9998/"}, "ICMP_UNREACHABLE", "server", 9998},
		{"udp closed port", []string{"dig", "+tries=1", "+timeout=1", "@198.18.0.1", "-p", "5353", "www.demo.test"}, "ICMP_UNREACHABLE", "server", 5353},
		{"x-pepe", []string{"curl", "-sS", "-o", "/dev/null", "-H", "X-Pepe: yes", "http://198.18.0.1/big.bin"}, "HTTP_HEADER_MATCH", "client", 80},
		{"x-pepe over h2c (curl, HPACK)", []string{"curl", "-sS", "-o", "/dev/null", "--http2-prior-knowledge", "-H", "X-Pepe: yes", "http://198.18.0.1:8080/"}, "HTTP_HEADER_MATCH", "client", 8080},
		{"x-pepe over h2c (Go)", []string{l.labBin, "h2c-get", "-H", "X-Pepe: go", "http://[fd00:198:18::1]:8080/"}, "HTTP_HEADER_MATCH", "client", 8080},
		{"healthy h2c", []string{"curl", "-sS", "-o", "/dev/null", "--http2-prior-knowledge", "http://198.18.0.1:8080/"}, "", "", 8080},
		{"h2c 503 (curl, HPACK status)", []string{"curl", "-sS", "-o", "/dev/null", "--http2-prior-knowledge", "http://198.18.0.1:8080/unavailable"}, "HTTP_SERVER_ERROR", "server", 8080},
		{"grpc NOT_FOUND twice on one connection (grpc-go)", []string{peer, "check", "198.18.0.1:50051", "nope.Service", "2"}, "GRPC_ERROR", "server", 50051},
		{"", nil, "GRPC_ERROR", "server", 50051}, // its second call
		{"grpc UNIMPLEMENTED (grpc-go, trailers only)", []string{peer, "missing", "[fd00:198:18::1]:50051"}, "GRPC_ERROR", "server", 50051},
		{"grpc-go deadline 3 s on a call the server leaves hanging (RST_STREAM; the deadline runs from before the connection is set up, so not less)", []string{peer, "slow", "198.18.0.1:50051", "3s"}, "HTTP_NO_RESPONSE", "server", 50051},
		{"curl -m 2 over h2c to a hanging upstream (closes the connection)", []string{"curl", "-sS", "-m", "2", "-o", "/dev/null", "--http2-prior-knowledge", "http://198.18.0.1:8080/upstream-hang/x"}, "HTTP_NO_RESPONSE", "server", 8080},
		{"healthy grpc (grpc-go, 3 calls)", []string{peer, "check", "198.18.0.1:50051", "ok", "3"}, "", "", 50051},
		{"grpc watch with nothing to send, cancelled by its application after 1.5 s without a deadline: not a hang", []string{peer, "watch", "198.18.0.1:50051", "1.5s"}, "", "", 50051},
		{"server stops reading: zero window", []string{"curl", "-sS", "-o", "/dev/null", "-H", "Expect:", "--data-binary", "@" + filepath.Join(l.dir, "www", "big.bin"), "http://198.18.0.1:7001/upload"}, "TCP_ZERO_WINDOW", "server", 7001},
		{"nginx proxying to a closed upstream: 502", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1/upstream-down/x"}, "HTTP_SERVER_ERROR", "server", 80},
		{"a Go service whose dependency is down: 503 with http.Error's text", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7003/dependency-down"}, "HTTP_SERVER_ERROR", "server", 7003},
		{"nginx's rate limit (limit_req, 1 request/s): the second of two requests gets 429", []string{"curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "http://198.18.0.1/limited/a", "http://198.18.0.1/limited/b"}, "HTTP_SERVER_ERROR", "server", 80},
		{"client gives up on a hanging proxy", []string{"curl", "-sS", "-m", "2", "-o", "/dev/null", "http://198.18.0.1/upstream-hang/x"}, "HTTP_NO_RESPONSE", "server", 80},
		{"nginx's upstream fails half-way through the body: truncated answer", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1/upstream-cut/x"}, "HTTP_RESPONSE_TRUNCATED", "server", 80},
		{"a Go server stops sending mid-body; curl -m 2 gives up", []string{"curl", "-sS", "-m", "2", "-o", "/dev/null", "http://198.18.0.1:7003/stall/x"}, "HTTP_RESPONSE_STALLED", "server", 7003},
		{"a Go HTTPS server's handler hangs on the second request of a connection; curl -m 2 gives up", []string{"curl", "-sS", "-m", "2", "--http1.1", "-o", "/dev/null", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(7443), "https://api.demo.test:7443/", "https://api.demo.test:7443/hang/x"}, "TLS_NO_RESPONSE", "server", 7443},
		{"nginx over TLS 1.3 (two session tickets after curl's request) in front of a hanging upstream; curl -m 2 gives up", []string{"curl", "-sS", "-m", "2", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(9545), "https://api.demo.test:9545/upstream-hang/z"}, "TLS_NO_RESPONSE", "server", 9545},
		{"nginx requiring a client certificate answers 400 inside TLS: no event (end_flows: client_certificate none)", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(9543), "https://api.demo.test:9543/"}, "", "", 9543},
		{"a slow HTTPS answer that comes (1.5 s): not a hang", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(7443), "https://api.demo.test:7443/slow"}, "", "", 7443},
		{"a Go service answers after 4 s (slow, but answered)", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7003/slow/orders"}, "HTTP_SLOW_RESPONSE", "server", 7003},
		{"a Go server aborts the second request of a keep-alive connection after 1.5 s (curl: Empty reply)", []string{"curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "http://198.18.0.1:7003/", "http://198.18.0.1:7003/abort"}, "HTTP_EMPTY_REPLY", "server", 7003},
		{"", nil, "HTTP_EMPTY_REPLY", "server", 7003}, // curl retries it on a fresh connection
		{"a complete chunked answer, then the server closes: not truncated", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7003/chunked"}, "", "", 7003},
		{"large response through a path MTU black hole", []string{"curl", "-sS", "-m", "3", "-o", "/dev/null", "http://198.18.0.1:8081/big.bin"}, "TCP_RETRANSMISSIONS", "server", 8081},
		{"a long poll (Consul-style blocking query) the client ends itself: not a hang", []string{"curl", "-sS", "-m", "1.5", "-o", "/dev/null", "http://198.18.0.1/upstream-hang/v1/kv/app?index=42&wait=5m"}, "", "", 80},
		{"second request on a keep-alive connection hangs", []string{"curl", "-sS", "-m", "2", "-o", "/dev/null", "-o", "/dev/null", "http://198.18.0.1/", "http://198.18.0.1/upstream-hang/y"}, "HTTP_NO_RESPONSE", "server", 80},
		{"keep-alive race: a request on a connection nginx closed after 1 s idle", []string{l.labBin, "reuse-get", "198.18.0.1:8082", "1.5s"}, "TCP_RESET", "server", 8082},
		{"first SYN dropped: connected 1 s late", []string{"curl", "-sS", "-o", "/dev/null", "http://198.18.0.3/"}, "TCP_LATE_ANSWER", "server", 80},
		{"first DNS query dropped: glibc resolves 2 s late", []string{"getent", "ahosts", "www.demo.test"}, "DNS_LATE_ANSWER", "server", 53},
		{"pod search list, name resolves: NXDOMAIN steps are not failures", []string{"env", "LOCALDOMAIN=ns1.svc.cluster.local svc.cluster.local cluster.local", "RES_OPTIONS=ndots:5", "getent", "ahosts", "www.demo.test"}, "", "", 53},
		{"pod search list, name does not exist", []string{"env", "LOCALDOMAIN=ns1.svc.cluster.local svc.cluster.local cluster.local", "RES_OPTIONS=ndots:5", "getent", "ahosts", "nope.demo.test"}, "DNS_ERROR", "server", 53},
		{"nxdomain", []string{"dig", "+tries=1", "@198.18.0.1", "nope.demo.test"}, "DNS_ERROR", "server", 53},
		{"a name without any address: A and AAAA answered empty (NODATA)", []string{"curl", "-sS", "-o", "/dev/null", "http://noaddr.demo.test/"}, "DNS_NODATA", "server", 53},
		{"an IPv6-only name looked up for IPv4 only", []string{"curl", "-sS", "-4", "-o", "/dev/null", "http://v6only.demo.test/"}, "DNS_NODATA", "server", 53},
		{"a dual-stack name whose IPv6 path is dropped: curl gives up on IPv6 after one SYN and connects over IPv4", []string{"curl", "-sS", "-o", "/dev/null", "http://dual.demo.test:8082/"}, "TCP_NO_ANSWER", "server", 8082},
		// Not right after the IPv4-only lookup of the same name: a query
		// sent within 10 ms of that answer, from another socket, is
		// taken for the same lookup's other type (siblingGap), whose
		// address would drop the NODATA.
		{"an IPv6-only name looked up for both: resolves over AAAA", []string{"curl", "-sS", "-o", "/dev/null", "http://v6only.demo.test/"}, "", "", 80},
		{"healthy tls", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(10443), "https://api.demo.test:10443/"}, "", "", 10443},
		{"healthy mtls", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--cert", c + "/client.pem", "--key", c + "/client-key.pem", "--resolve", res(8443), "https://api.demo.test:8443/"}, "", "", 8443},
		{"mtls server closing without an alert when the client has no certificate (as Java's do)", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--resolve", res(7444), "https://api.demo.test:7444/"}, "TLS_HANDSHAKE_ABORTED", "server", 7444},
		{"healthy mtls to that server", []string{"curl", "-sS", "-o", "/dev/null", "--cacert", c + "/ca.pem", "--cert", c + "/client.pem", "--key", c + "/client-key.pem", "--resolve", res(7444), "https://api.demo.test:7444/"}, "", "", 7444},
		{"healthy http v6", []string{"curl", "-sS", "-o", "/dev/null", "http://[fd00:198:18::1]/"}, "", "", 80},
		// Far from the other ICMPv6 errors to the pod: the kernel sends
		// at most one a second to a destination (net.ipv6.icmp.ratelimit).
		{"dns to an address where nothing listens on port 53 (icmpv6): not also a DNS no-answer", []string{"dig", "+tries=1", "+timeout=1", "@fd00:198:18::1", "www.demo.test"}, "ICMP_UNREACHABLE", "server", 53},
		{"healthy dns", []string{"dig", "+tries=1", "@198.18.0.1", "www.demo.test"}, "", "", 53},
		{"healthy go tls", []string{l.labBin, "tls-client", "-ca", c + "/ca.pem", "-sni", "api.demo.test", "198.18.0.1:10443"}, "", "", 10443},
		{"psql with a wrong password", []string{"psql", "-w", "-X", "host=198.18.0.1 user=app password=wrong dbname=shop sslmode=disable", "-c", "select 1"}, "DB_ERROR", "server", 5432},
		{"psql to a database that does not exist, over IPv6", []string{"psql", "-w", "-X", "host=fd00:198:18::1 user=app password=secret dbname=orders sslmode=disable", "-c", "select 1"}, "DB_ERROR", "server", 5432},
		{"psql with sslmode=require to a PostgreSQL without TLS", []string{"psql", "-w", "-X", "host=198.18.0.1 port=5433 user=app password=secret dbname=shop sslmode=require", "-c", "select 1"}, "DB_ERROR", "client", 5433},
		{"psql: a statement runs past statement_timeout; a duplicate key is the application's", []string{"psql", "-w", "-X", "host=198.18.0.1 user=app password=secret dbname=shop sslmode=disable", "-c", "insert into items values (1, 'again')", "-c", "set statement_timeout=300", "-c", "select pg_sleep(1)"}, "DB_ERROR", "server", 5432},
		{"psql over TLS, a user only TLS may log in as (healthy)", []string{"psql", "-w", "-X", "host=198.18.0.1 user=tlsonly password=secret dbname=shop sslmode=require", "-c", "select name from items"}, "", "", 5432},
		{"psql through PgBouncer with a startup parameter it does not pass on", []string{"env", "PGOPTIONS=-c search_path=public", "psql", "-w", "-X", "host=198.18.0.1 port=6432 user=app password=secret dbname=shop", "-c", "select 1"}, "DB_ERROR", "server", 6432},
		{"psql through PgBouncer to a database its server does not have, over IPv6", []string{"psql", "-w", "-X", "host=fd00:198:18::1 port=6432 user=app password=secret dbname=nosuch", "-c", "select 1"}, "DB_ERROR", "server", 6432},
		{"psql stopped 1.5 s into a 4 s query (as by its timeout)", []string{"timeout", "-s", "KILL", "1.5", "psql", "-w", "-X", "host=198.18.0.1 user=app password=secret dbname=shop sslmode=disable", "-c", "select pg_sleep(4)"}, "DB_ERROR", "client", 5432},
		{"psql through PgBouncer (healthy)", []string{"psql", "-w", "-X", "host=198.18.0.1 port=6432 user=app password=secret dbname=shop", "-c", "select name from items"}, "", "", 6432},
		{"mariadb client with a wrong password, without TLS", []string{"mariadb", "--no-defaults", "--skip-ssl", "-h", "198.18.0.1", "-uapp", "-pwrong", "shop", "-e", "select 1"}, "DB_ERROR", "server", 3306},
		{"mariadb client over IPv6, an address no account may connect from (an error instead of the greeting)", []string{"mariadb", "--no-defaults", "-h", "fd00:198:18::1", "-P", "3307", "-uapp", "-psecret", "shop", "-e", "select 1"}, "DB_ERROR", "server", 3307},
		{"mariadb client writes to a read-only server", []string{"mariadb", "--no-defaults", "-h", "198.18.0.1", "-P", "3307", "-uapp", "-psecret", "shop", "-e", "insert into items values (2, 'two')"}, "DB_ERROR", "server", 3307},
		{"psql over TLS with a wrong password: the FATAL is encrypted", []string{"psql", "-w", "-X", "host=198.18.0.1 user=app password=wrong dbname=shop sslmode=require", "-c", "select 1"}, "DB_ERROR", "server", 5432},
		{"mariadb client over TLS with a wrong password: the error is encrypted", []string{"mariadb", "--no-defaults", "--ssl", "--ssl-ca", c + "/ca.pem", "-h", "198.18.0.1", "-uapp", "-pwrong", "shop", "-e", "select 1"}, "DB_ERROR", "server", 3306},
		{"mariadb client over TLS, a healthy query", []string{"mariadb", "--no-defaults", "--ssl", "--ssl-ca", c + "/ca.pem", "-h", "198.18.0.1", "-uapp", "-psecret", "shop", "-e", "select name from items"}, "", "", 3306},
		{"mariadb client, a healthy query", []string{"mariadb", "--no-defaults", "-h", "198.18.0.1", "-uapp", "-psecret", "shop", "-e", "select name from items"}, "", "", 3306},
		{"redis-cli without the password Redis requires", []string{"redis-cli", "-h", "198.18.0.1", "get", "session:42"}, "DB_ERROR", "server", 6379},
		{"redis-cli with it (healthy)", []string{"redis-cli", "-h", "198.18.0.1", "--no-auth-warning", "-a", "s3cret", "set", "session:42", "x"}, "", "", 6379},
		{"redis-cli writes to a read-only replica", []string{"redis-cli", "-h", "198.18.0.1", "-p", "6380", "set", "session:42", "y"}, "DB_ERROR", "server", 6380},
		{"redis-cli writes to a Redis over its maxmemory (noeviction)", []string{"redis-cli", "-h", "198.18.0.1", "-p", "6382", "set", "k", "v"}, "DB_ERROR", "server", 6382},
	}
	// A client without a timeout, left hanging by a server that never
	// answers, for as long as the steps run (more than 10 s): reported
	// "so far" by the 30 s timer or at the capture's end.
	hang := exec.Command("ip", "netns", "exec", l.name+"-pod", "timeout", "120", "curl", "-sS", "-o", "/dev/null", "http://198.18.0.1:7002/api/orders")
	if err := hang.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Process.Kill(); hang.Wait() })
	// And a TLS client with no handshake timeout to speak of (curl's is
	// its 300 s connect timeout).
	hello := exec.Command("ip", "netns", "exec", l.name+"-pod", "timeout", "120", "curl", "-sSk", "-o", "/dev/null", "https://198.18.0.1:7002/")
	if err := hello.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hello.Process.Kill(); hello.Wait() })
	start := time.Now()
	for _, s := range steps {
		if len(s.args) > 0 {
			l.inPod(s.args...)
		}
	}
	if d := 11*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	time.Sleep(300 * time.Millisecond)
	a.stop(t)

	events := records(t, filepath.Join(a.out, "netevents.jsonl"))
	flows := records(t, filepath.Join(a.out, "end_flows.jsonl"))
	count := countNotes(events)
	for _, e := range events {
		if e["id.resp_p"] == 7002.0 && e["note"] == "HTTP_NO_RESPONSE" && (e["so_far"] != true || !strings.Contains(fmt.Sprint(e["msg"]), "so far for an answer to GET /api/orders")) {
			t.Errorf("the hanging request: %v", e)
		}
	}
	var codes []string
	for _, e := range events {
		if db, ok := e["db"].(map[string]any); ok {
			codes = append(codes, fmt.Sprint(db["code"]))
			if (e["id.resp_p"] == 6432.0) != (db["pooler"] == "pgbouncer") {
				t.Errorf("PgBouncer named wrongly: %v", e)
			}
		}
	}
	sort.Strings(codes)
	if got := strings.Join(codes, " "); got != "08P01 08P01 1045 1130 1290 28P01 3D000 57014 LOGIN_REFUSED_ENCRYPTED LOGIN_REFUSED_ENCRYPTED NOAUTH OOM QUERY_ABANDONED READONLY TLS_NOT_OFFERED" {
		t.Errorf("database errors: %s", got)
	}
	want := map[string]int{"HTTP_NO_RESPONSE/server/7002": 1, "TLS_NO_ANSWER/server/7002": 1}
	for _, s := range steps {
		if s.note != "" {
			want[fmt.Sprintf("%s/%s/%v", s.note, s.side, s.port)]++
		}
	}
	want["DNS_ERROR/server/53"]++ // the failing search-list walk: its last name's A and AAAA
	// wget usually resets right after the handshake; on a loaded machine
	// it sometimes closes with a FIN first (the server's session tickets
	// then draw the reset), which is not reported: either is wget's.
	// testdata/lab/wget-selfsigned-tls13-tls12.pcap pins the reset case.
	wgetReset := count["TCP_RESET/client/443"] == 1
	if !wgetReset {
		want["TCP_RESET/client/443"]--
		t.Logf("wget closed with a FIN before its reset this time: no TCP_RESET expected")
	}
	// The grpc-go call with a 3 s deadline: its client cancels (an
	// HTTP_NO_RESPONSE) or, as often on a busy machine, the server's own
	// copy of the deadline fires first and it answers DEADLINE_EXCEEDED
	// (a GRPC_ERROR). Both are the right diagnosis; the wire decides.
	if count["HTTP_NO_RESPONSE/server/50051"] == 0 {
		for _, e := range events {
			if g, _ := e["grpc"].(map[string]any); e["note"] == "GRPC_ERROR" && g["status"] == 4.0 {
				want["HTTP_NO_RESPONSE/server/50051"]--
				want["GRPC_ERROR/server/50051"]++
				t.Logf("the server's deadline fired before the client's this time: GRPC_ERROR DEADLINE_EXCEEDED instead of HTTP_NO_RESPONSE")
				break
			}
		}
	}
	checkCounts(t, want, count, events, flows, "tls")
	// nginx answering a ClientHello in plain HTTP is named.
	for _, e := range events {
		switch msg := e["msg"].(string); {
		case e["note"] != "TLS_HANDSHAKE_ABORTED":
		case e["id.resp_p"] == 7444.0 && !strings.Contains(msg, "it had asked for a client certificate and the client sent none"):
			t.Errorf("the quiet mTLS server: %v", msg)
		case e["id.resp_p"] != 7444.0 && !strings.Contains(msg, "in plain HTTP"):
			t.Errorf("https to the http port: %v", msg)
		}
	}
	for _, e := range events {
		if e["note"] == "TCP_NO_ANSWER" && e["id.resp_p"] == 8082.0 && !strings.Contains(fmt.Sprint(e["msg"]), "most likely it went on over IPv4") {
			t.Errorf("the dual-stack fallback: %v", e["msg"])
		}
		// Whichever of the two workers saw the accepted connection.
		if e["note"] == "TCP_NO_ANSWER" && e["id.resp_p"] == 7700.0 && !strings.Contains(fmt.Sprint(e["msg"]), "so no rule blocks it: most likely the server's listen backlog is full") {
			t.Errorf("the server that never accepts: %v", e["msg"])
		}
	}
	// wget's reset names the TLS handshake it follows.
	quit := 0
	for _, e := range events {
		if e["note"] == "TCP_RESET" && e["after_tls_handshake"] == true {
			quit++
		}
	}
	if wgetReset && quit != 1 {
		t.Errorf("%d TCP_RESET events with after_tls_handshake, want 1 (wget)", quit)
	}
	// The flows an ICMP error quoted are marked in end_flows.
	marked := 0
	for _, f := range flows {
		if u, ok := f["icmp_unreachable"].(map[string]any); ok && u["name"] == "port unreachable" {
			marked++
		}
	}
	if marked < 3 {
		t.Errorf("%d flows marked icmp_unreachable, want 3", marked)
	}
	// Every TCP connection was flushed with a record; handshakes timed.
	tcp := 0
	for _, f := range flows {
		if f["proto"] == "tcp" {
			tcp++
			if f["conn_state"] == "SF" {
				if _, ok := f["tcp_rtt_ms"]; !ok {
					t.Errorf("SF flow without tcp_rtt_ms: %v", f)
				}
			}
		}
	}
	tcpClients := 0
	for _, s := range steps {
		if len(s.args) > 0 && s.port != 53 && s.port != 5353 {
			tcpClients++
		}
	}
	if tcp < tcpClients {
		t.Errorf("%d TCP flow records for %d TCP clients", tcp, tcpClients)
	}
	// Every referenced pcap exists, is at most 2 MiB and opens in tshark.
	for _, e := range events {
		if p, ok := e["pcap"].(string); ok {
			st, err := os.Stat(filepath.Join(a.out, p))
			if err != nil || st.Size() > 2<<20 {
				t.Errorf("pcap %s: %v", p, err)
				continue
			}
			if _, err := exec.LookPath("tshark"); err == nil {
				if out, err := exec.Command("tshark", "-r", filepath.Join(a.out, p), "-c", "1").CombinedOutput(); err != nil {
					t.Errorf("tshark %s: %v %s", p, err, out)
				}
				if e["note"] == "TCP_RESET" {
					// The focused pcap shows the connection's start and
					// the reset itself, whatever was transferred between.
					for _, f := range []string{"tcp.flags.syn==1", "tcp.flags.reset==1"} {
						out, _ := exec.Command("tshark", "-r", filepath.Join(a.out, p), "-Y", f).Output()
						if len(bytes.TrimSpace(out)) == 0 {
							t.Errorf("pcap %s of %v has no packet matching %s", p, e["msg"], f)
						}
					}
				}
			}
		}
	}
	stats := records(t, filepath.Join(a.out, "stats.jsonl"))
	last := stats[len(stats)-1]
	if last["kernel_drops"] != 0.0 || last["queue_drops"] != 0.0 || last["packets"].(float64) == 0 {
		t.Errorf("final stats: %v", last)
	}
	// The last stats record counts every pcap written.
	files, _ := filepath.Glob(filepath.Join(a.out, "pcaps", "*.pcap"))
	if last["pcaps_written"] != float64(len(files)) {
		t.Errorf("final stats say %v pcaps written, %d on disk", last["pcaps_written"], len(files))
	}
}

// TestLiveOverlay: capture where pod traffic crosses nodes inside VXLAN
// (the lab's vx0 and vx1 tunnels over eth0), with two workers. The
// kernel's fanout hashes the outer header and the two directions of a
// connection travel in different outer flows, so they reach different
// workers: each connection must still be analysed whole and in order
// (a SYN read after its RST would make the RST a midstream flow and the
// SYN an unanswered one). Three rounds of each failure.
func TestLiveOverlay(t *testing.T) {
	needRoot(t)
	l := startLab(t, "dltt3")
	a := startAgent(t, l, "-search-header", "x-pepe", "-syn-timeout", "1500ms")
	type step struct {
		args []string
		note string
		side string
		port float64
	}
	steps := []step{
		{[]string{"curl", "-sS", "--tls-max", "1.2", "https://198.18.244.1/"}, "TLS_ALERT", "client", 443},
		{[]string{"curl", "-sS", "http://198.18.244.1:9/"}, "TCP_REFUSED", "server", 9},
		{[]string{"dig", "+tries=1", "+timeout=1", "@198.18.244.1", "nope.demo.test"}, "DNS_ERROR", "server", 53},
		{[]string{"curl", "-sS", "-o", "/dev/null", "-H", "X-Pepe: yes", "http://198.18.244.1/unavailable"}, "HTTP_HEADER_MATCH", "client", 80},
		{nil, "HTTP_SERVER_ERROR", "server", 80}, // the same request's 503
		{[]string{"curl", "-sS", "-k", "https://[fd00:198:18:245::1]:8443/"}, "TLS_REJECTED_ENCRYPTED", "server", 8443},
		{[]string{"curl", "-sS", "-o", "/dev/null", "-r", "0-299999", "http://[fd00:198:18:245::1]/big.bin"}, "", "", 80},
		{[]string{"curl", "-sS", "http://198.18.245.1:81/"}, "TCP_REFUSED", "server", 81},
	}
	want := map[string]int{}
	for round := 0; round < 3; round++ {
		for _, s := range steps {
			if s.args != nil {
				l.inPod(s.args...)
			}
			if s.note != "" {
				want[fmt.Sprintf("%s/%s/%v", s.note, s.side, s.port)]++
			}
		}
	}
	l.inPod("curl", "-sS", "--connect-timeout", "2", "http://198.18.245.1:9999/")
	want["TCP_NO_ANSWER/server/9999"]++
	time.Sleep(300 * time.Millisecond)
	a.stop(t)

	events := records(t, filepath.Join(a.out, "netevents.jsonl"))
	flows := records(t, filepath.Join(a.out, "end_flows.jsonl"))
	for _, e := range events {
		if tun, _ := e["tunnel"].(map[string]any); tun["type"] != "vxlan" {
			t.Errorf("%v: tunnel %v", e["note"], e["tunnel"])
		}
	}
	downloads := 0
	for _, f := range flows {
		if f["midstream"] == true {
			t.Errorf("a connection split between workers (midstream): %v %v:%v %v", f["conn_state"], f["id.resp_h"], f["id.resp_p"], f["history"])
		}
		if b, _ := f["resp_bytes"].(float64); f["id.resp_p"] == 80.0 && b > 300000 && f["conn_state"] == "SF" {
			downloads++
		}
	}
	if downloads != 3 {
		t.Errorf("%d whole 300 kB downloads through the IPv6 tunnel, want 3", downloads)
	}
	checkCounts(t, want, countNotes(events), events, flows, "tunnel")
}

// countNotes counts events by note, side and responder port, as the live
// tests' expectations are written.
func countNotes(events []map[string]any) map[string]int {
	count := map[string]int{}
	for _, e := range events {
		port, _ := e["id.resp_p"].(float64)
		count[fmt.Sprintf("%s/%s/%v", e["note"], e["side"], port)]++
	}
	return count
}

// checkCounts fails the test for every count that differs from want (a
// key wanted 0 times is not checked) and every event not wanted; then,
// if the test failed, it logs the events and the flows (with their
// field extra).
func checkCounts(t *testing.T, want, count map[string]int, events, flows []map[string]any, extra string) {
	t.Helper()
	for k, n := range want {
		if n != 0 && count[k] != n {
			t.Errorf("%s: %d events, want %d", k, count[k], n)
		}
	}
	for k, n := range count {
		if want[k] == 0 {
			t.Errorf("unexpected event %s (x%d)", k, n)
		}
	}
	if t.Failed() {
		for _, e := range events {
			t.Logf("event: %v %v %v", e["note"], e["side"], e["msg"])
		}
		for _, f := range flows {
			t.Logf("flow: %v:%v %v %v %v", f["id.resp_h"], f["id.resp_p"], f["conn_state"], f["history"], f[extra])
		}
	}
}

// TestLiveInterfaceGone: the pod's interface disappears (pod killed):
// the agent says so, flushes, keeps running, and re-attaches when an
// interface of that name is back.
func TestLiveInterfaceGone(t *testing.T) {
	needRoot(t)
	l := startLab(t, "dltt2")
	a := startAgent(t, l)
	checkCapsDropped(t, a.cmd.Process.Pid)
	l.inPod("curl", "-sS", "-o", "/dev/null", "http://198.18.0.1/")
	// Kill the "pod's" interface.
	if out, err := exec.Command("ip", "-n", l.name+"-pod", "link", "del", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(t, filepath.Join(a.out, "netevents.jsonl"), "CAPTURE_DETACHED")
	// A replacement interface of the same name.
	cmds := [][]string{
		{"ip", "link", "add", "eth0", "netns", l.name + "-pod", "type", "veth", "peer", "name", "eth0", "netns", l.name + "-srv"},
		{"ip", "-n", l.name + "-pod", "addr", "add", "198.18.0.2/24", "dev", "eth0"},
		{"ip", "-n", l.name + "-srv", "addr", "add", "198.18.0.1/24", "dev", "eth0"},
		{"ip", "-n", l.name + "-pod", "link", "set", "eth0", "up"},
		{"ip", "-n", l.name + "-srv", "link", "set", "eth0", "up"},
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	waitFor(t, filepath.Join(a.out, "netevents.jsonl"), "CAPTURE_ATTACHED")
	time.Sleep(200 * time.Millisecond)
	l.inPod("curl", "-sS", "http://198.18.0.1:81/")
	time.Sleep(200 * time.Millisecond)
	a.stop(t)
	b, _ := os.ReadFile(filepath.Join(a.out, "netevents.jsonl"))
	if !strings.Contains(string(b), "TCP_REFUSED") {
		t.Errorf("no diagnosis after re-attach:\n%s", b)
	}
	fl, _ := os.ReadFile(filepath.Join(a.out, "end_flows.jsonl"))
	if !strings.Contains(string(fl), `"id.resp_p":80`) {
		t.Errorf("flow before the interface went away was not flushed:\n%s", fl)
	}
}

// checkCapsDropped: once capturing, every thread of the agent keeps only
// NET_RAW, plus SYS_ADMIN, SYS_PTRACE and DAC_READ_SEARCH to re-enter a
// network namespace.
func checkCapsDropped(t *testing.T, pid int) {
	t.Helper()
	const want = 1<<13 | 1<<21 | 1<<19 | 1<<2
	var last string
	for i := 0; i < 50; i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		ok := len(tasks) > 0
		for _, st := range tasks {
			b, _ := os.ReadFile(st)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "CapEff:") {
					var v uint64
					fmt.Sscanf(strings.TrimSpace(line[7:]), "%x", &v)
					if v != want {
						ok, last = false, line
					}
				}
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("capabilities not dropped: %s (want CapEff %016x)", last, uint64(want))
}

func waitFor(t *testing.T, path, text string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), text) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never showed %s:\n%s", path, text, b)
}
