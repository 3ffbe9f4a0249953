// Command dlltlab provides the real peers the demo and the live tests need
// that Debian does not package: certificate sets, a server that aborts
// connections with a reset (SO_LINGER 0), a server that stops reading for
// a while (a stuck application), a server that never accepts (its
// listen backlog full), a Go net/http server that breaks off or
// stalls in the middle of its answers, a Go crypto/tls client, a Go
// HTTP/2 client with prior knowledge (h2c, as gRPC clients speak it) and
// an HTTP/1.1 client that reuses an idle keep-alive connection without
// checking it first, as Python's http.client does, and a forward proxy
// that tunnels CONNECT requests (as HTTPS_PROXY egress proxies do).
// Addresses come from the caller; it never chooses a destination itself.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dlltlab certs DIR | rst-server ADDR | stall-server ADDR | silent-server ADDR | stuck-server ADDR | partial-server ADDR [CERTDIR] | mtls-quiet-server ADDR CERTDIR | tls-client [flags] ADDR | h2c-get [-H HEADER] URL | h2-get [-k] [-timeout D] [-tls12] URL|PAUSE... | reuse-get ADDR WAIT | connect-proxy ADDR [USER:PASSWORD] | h2c-upgrade-server ADDR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "certs":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab certs DIR")
			break
		}
		err = certs(os.Args[2])
	case "rst-server":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab rst-server ADDR")
			break
		}
		err = rstServer(os.Args[2])
	case "tls-client":
		err = tlsClient(os.Args[2:])
	case "stall-server":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab stall-server ADDR")
			break
		}
		err = stallServer(os.Args[2])
	case "silent-server":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab silent-server ADDR")
			break
		}
		err = silentServer(os.Args[2])
	case "stuck-server":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab stuck-server ADDR")
			break
		}
		err = stuckServer(os.Args[2])
	case "partial-server":
		if len(os.Args) != 3 && len(os.Args) != 4 {
			err = fmt.Errorf("usage: dlltlab partial-server ADDR [CERTDIR]")
			break
		}
		err = partialServer(os.Args[2], strings.Join(os.Args[3:], ""))
	case "h2c-upgrade-server":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: dlltlab h2c-upgrade-server ADDR")
			break
		}
		err = h2cUpgradeServer(os.Args[2])
	case "mtls-quiet-server":
		if len(os.Args) != 4 {
			err = fmt.Errorf("usage: dlltlab mtls-quiet-server ADDR CERTDIR")
			break
		}
		err = mtlsQuietServer(os.Args[2], os.Args[3])
	case "h2c-get":
		err = h2cGet(os.Args[2:])
	case "h2-get":
		err = h2Get(os.Args[2:])
	case "connect-proxy":
		if len(os.Args) != 3 && len(os.Args) != 4 {
			err = fmt.Errorf("usage: dlltlab connect-proxy ADDR [USER:PASSWORD]")
			break
		}
		err = connectProxy(os.Args[2], strings.Join(os.Args[3:], ""))
	case "reuse-get":
		if len(os.Args) != 4 {
			err = fmt.Errorf("usage: dlltlab reuse-get ADDR WAIT")
			break
		}
		err = reuseGet(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlltlab:", err)
		os.Exit(1)
	}
}

type certSpec struct {
	name      string
	cn        string
	dns       []string
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
	client    bool
	selfSign  bool
}

// certs writes ca.pem, server.pem/-key.pem (CA-signed), selfsigned,
// expired (CA-signed, expired yesterday) and client certificates.
func certs(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dlltagent demo CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	if err := writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER); err != nil {
		return err
	}
	ips := []net.IP{net.ParseIP("198.18.0.1"), net.ParseIP("fd00:198:18::1")}
	names := []string{"api.demo.test", "www.demo.test", "localhost"}
	for i, s := range []certSpec{
		{name: "server", cn: "api.demo.test", dns: names, ips: ips, notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour)},
		{name: "selfsigned", cn: "api.demo.test", dns: names, ips: ips, notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour), selfSign: true},
		{name: "expired", cn: "api.demo.test", dns: names, ips: ips, notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-24 * time.Hour)},
		{name: "client", cn: "demo-client", notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour), client: true},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: s.cn},
			NotBefore: s.notBefore, NotAfter: s.notAfter, DNSNames: s.dns, IPAddresses: s.ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if s.client {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		parent, signer := caCert, any(caKey)
		if s.selfSign {
			parent, signer = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			return err
		}
		kder, _ := x509.MarshalPKCS8PrivateKey(key)
		if err := writePEM(filepath.Join(dir, s.name+".pem"), "CERTIFICATE", der); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, s.name+"-key.pem"), "PRIVATE KEY", kder); err != nil {
			return err
		}
	}
	return nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// serve accepts connections on addr and runs handle for each in its own
// goroutine, until accepting fails.
func serve(addr string, handle func(net.Conn)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go handle(c)
	}
}

// rstServer accepts connections, reads the request, and aborts each with
// a reset (SO_LINGER 0), like a server process that crashes mid-request.
func rstServer(addr string) error {
	return serve(addr, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		partial := false
		for i := 0; ; i++ {
			line, err := r.ReadString('\n')
			if i == 0 && strings.Contains(line, " /partial") {
				partial = true
			}
			if err != nil || line == "\r\n" || line == "\n" {
				break
			}
		}
		if partial {
			// A server dying mid-response: headers and part of
			// the body, then a reset.
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"))
			c.Write(make([]byte, 64<<10))
			time.Sleep(100 * time.Millisecond)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
}

// stallServer accepts connections and reads nothing for 2 s, like an
// application stuck before it reads its socket: a client sending more
// than the receive buffer holds sees a zero window. Then it reads the
// request (to its end or a 1 s pause) and answers.
func stallServer(addr string) error {
	return serve(addr, func(c net.Conn) {
		defer c.Close()
		time.Sleep(2 * time.Second)
		buf := make([]byte, 64<<10)
		for {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	})
}

// silentServer accepts connections and never reads or answers them, as
// a server whose every worker is stuck (a deadlock, a call with no
// timeout to something that hangs): its kernel still accepts and
// acknowledges the requests. Connections stay open (a client without a
// timeout waits for ever); past 64 the oldest is closed.
func silentServer(addr string) error {
	held := make(chan net.Conn, 64)
	return serve(addr, func(c net.Conn) {
		for {
			select {
			case held <- c:
				return
			default:
				(<-held).Close()
			}
		}
	})
}

// stuckServer listens on addr (IPv4) with a backlog of 0 and never
// accepts, as an application stuck before its accept loop, or too slow
// for its load, does: the kernel completes one handshake into the accept
// queue, then drops the SYNs it has no room for.
func stuckServer(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("stuck-server: %q is not an IPv4 address and port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("stuck-server: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("stuck-server: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fmt.Errorf("stuck-server: bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		return fmt.Errorf("stuck-server: listen: %w", err)
	}
	for { // never accepts; killed by the lab's teardown
		time.Sleep(time.Hour)
	}
}

// partialServer is a Go net/http server whose answers break off in the
// middle of their body, as a handler that fails half-way (or a proxy
// whose upstream did) does, on these paths:
//
//	/cut/...      Content-Length 128 KiB, 32 KiB written, then the
//	              connection is aborted (http.ErrAbortHandler)
//	/cut-chunked  chunked: two 16 KiB chunks, then aborted (no last chunk)
//	/stall/...    Content-Length 128 KiB, 32 KiB written, then nothing for
//	              60 s (the handler waits on something that hangs)
//	/whole        Content-Length 16 KiB, all of it (Connection: close)
//	/chunked      chunked, two 16 KiB chunks and the last chunk
//	/hang/...     nothing at all for 60 s (an application stuck on a
//	              lock or an upstream), then a short answer
//	/slow         a short answer after 1.5 s
//	/slow/...     a short answer after 4 s (a slow query: answered, late)
//	/abort        nothing for 1.5 s, then the connection is closed without
//	              an answer (a handler that fails and aborts)
//	anything else a short answer, keep-alive
//
// With CERTDIR it serves over TLS (1.2 and 1.3, HTTP/1.1 and HTTP/2, with
// session tickets, as Go's servers do) with CERTDIR's server.pem.
//
// An answer to a URL with "big" in it carries ~5 KB of header (a long
// Content-Security-Policy and session cookies, as web applications send):
// more than net/http's 4 KiB write buffer, so the header leaves in two
// writes, and two segments, as it would past any path's MSS.
func partialServer(addr, certDir string) error {
	chunk := make([]byte, 16<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	write := func(w http.ResponseWriter, n int) {
		for ; n > 0; n -= len(chunk) {
			w.Write(chunk[:min(n, len(chunk))])
			w.(http.Flusher).Flush()
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cut/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "131072")
		write(w, 32<<10)
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/cut-chunked", func(w http.ResponseWriter, r *http.Request) {
		write(w, 32<<10)
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/stall/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "131072")
		write(w, 32<<10)
		select {
		case <-r.Context().Done():
		case <-time.After(60 * time.Second):
		}
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/whole", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "16384")
		w.Header().Set("Connection", "close")
		write(w, 16<<10)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		write(w, 32<<10)
	})
	mux.HandleFunc("/hang/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(60 * time.Second):
		}
		io.WriteString(w, "late\n")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/dependency-down", func(w http.ResponseWriter, r *http.Request) {
		// A service whose own dependency is down, answering as Go
		// services usually do: http.Error, a text/plain body.
		_, err := net.DialTimeout("tcp", "198.18.0.1:81", time.Second)
		if err == nil {
			err = errors.New("unexpected: the closed port accepted")
		}
		http.Error(w, "orders database unavailable: "+err.Error(), http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * time.Second)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	csp := "default-src 'self'"
	for i := 0; len(csp) < 2400; i++ {
		csp += fmt.Sprintf(" https://static%d.cdn.demo.test", i)
	}
	cookie := strings.Repeat("Zm9vYmFy", 100)
	bigHeader := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RequestURI(), "big") {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			for _, name := range []string{"session", "csrf", "prefs"} {
				h.Add("Set-Cookie", name+"="+cookie+"; Path=/; HttpOnly")
			}
		}
		mux.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: addr, Handler: bigHeader, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	if certDir != "" {
		return srv.ListenAndServeTLS(filepath.Join(certDir, "server.pem"), filepath.Join(certDir, "server-key.pem"))
	}
	return srv.ListenAndServe()
}

// mtlsQuietServer is a TLS 1.3 server that requires a client certificate
// the way Java's servers do when a client has none: it asks for one,
// and closes the connection without an alert when none came (here in
// the application, after the handshake: crypto/tls would send
// certificate_required). No session tickets, which Java's would not have
// sent either before closing. Clients with a certificate get "ok".
func mtlsQuietServer(addr, dir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
		MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true}
	return serve(addr, func(c net.Conn) {
		defer c.Close()
		t := tls.Server(c, cfg)
		t.SetDeadline(time.Now().Add(5 * time.Second))
		if t.Handshake() != nil || len(t.ConnectionState().PeerCertificates) == 0 {
			return // closed without an alert
		}
		// Read the request before answering: closing with it unread
		// would reset the connection.
		r := bufio.NewReader(t)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" || line == "\n" {
				break
			}
		}
		io.WriteString(t, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
	})
}

func tlsClient(args []string) error {
	fs := flag.NewFlagSet("tls-client", flag.ContinueOnError)
	ca := fs.String("ca", "", "trusted CA file (default: system roots)")
	sni := fs.String("sni", "", "server name")
	maxv := fs.String("max", "1.3", "highest TLS version: 1.2 or 1.3")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: dlltlab tls-client [-ca FILE] [-sni NAME] [-max 1.2|1.3] ADDR")
	}
	cfg := &tls.Config{ServerName: *sni, MaxVersion: tls.VersionTLS13}
	if *maxv == "1.2" {
		cfg.MaxVersion = tls.VersionTLS12
	}
	if *ca != "" {
		pemBytes, err := os.ReadFile(*ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemBytes)
		cfg.RootCAs = pool
	}
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", fs.Arg(0), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", *sni)
	// Read the whole response (HTTP/1.0: until the server closes):
	// closing with unread data would make the kernel send a reset.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	body, _ := io.ReadAll(io.LimitReader(c, 1<<20))
	fmt.Printf("%s\n", firstLine(body))
	return nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// h2cGet sends one GET over HTTP/2 without TLS (prior knowledge) with Go's
// HTTP/2 client, with the given header, and prints the status.
func h2cGet(args []string) error {
	fs := flag.NewFlagSet("h2c-get", flag.ContinueOnError)
	hdr := fs.String("H", "", "extra header, \"Name: value\"")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: dlltlab h2c-get [-H HEADER] URL")
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Protocols: &p}}
	req, err := http.NewRequest("GET", fs.Arg(0), nil)
	if err != nil {
		return err
	}
	if name, value, ok := strings.Cut(*hdr, ":"); ok {
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.Proto, resp.Status)
	return nil
}

// h2Get fetches URLs in turn over HTTPS with Go's client, which speaks
// HTTP/2 when the server offers it (ALPN h2 and http/1.1), on one pooled
// connection per server; a duration instead of a URL pauses. A request
// past the timeout is cancelled (HTTP/2: RST_STREAM) and the connection
// kept until the end. It prints each status or error.
func h2Get(args []string) error {
	fs := flag.NewFlagSet("h2-get", flag.ContinueOnError)
	insecure := fs.Bool("k", false, "do not check the server's certificate")
	timeout := fs.Duration("timeout", 3*time.Second, "each request's timeout")
	tls12 := fs.Bool("tls12", false, "TLS 1.2 at most")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: dlltlab h2-get [-k] [-timeout D] [-tls12] URL|PAUSE...")
	}
	cfg := &tls.Config{InsecureSkipVerify: *insecure}
	if *tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: *timeout, Transport: tr}
	var failed error // the last, said once at the end
	for _, a := range fs.Args() {
		if d, err := time.ParseDuration(a); err == nil {
			time.Sleep(min(d, time.Minute))
			continue
		}
		resp, err := c.Get(a)
		if err != nil {
			fmt.Println(err)
			failed = errors.New("a request failed")
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Proto, resp.Status)
	}
	return failed
}

// reuseGet sends GET / on a keep-alive HTTP/1.1 connection, reads the
// answer, waits, then sends GET /again on the same connection without
// checking whether the server closed it meanwhile (Python's http.client
// and many hand-written pools do not), and prints what came back.
func reuseGet(addr, wait string) error {
	d, err := time.ParseDuration(wait)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d + 6*time.Second))
	r := bufio.NewReader(c)
	for i, path := range []string{"/", "/again"} {
		if i > 0 {
			time.Sleep(d)
		}
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println("GET", path, resp.Status)
	}
	return nil
}

// connectProxy is a forward proxy for CONNECT and plain HTTP requests in
// absolute form (one per connection), with an egress
// allow-list as such proxies have: targets outside 198.18.0.0/15 and
// fd00:198:18::/48 (and names) get 403, a missing or wrong
// Proxy-Authorization 407 when auth is set; otherwise it dials the
// target, answers 200 and copies bytes both ways, or answers 502 when the
// dial fails.
func connectProxy(addr, auth string) error {
	allowed := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00:198:18::/48")}
	return serve(addr, func(c net.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		if req.Method != "CONNECT" && !req.URL.IsAbs() {
			c.Write([]byte("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"))
			return
		}
		if auth != "" && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)) {
			c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"lab\"\r\nContent-Length: 0\r\n\r\n"))
			return
		}
		if req.Method != "CONNECT" {
			// Plain HTTP through the proxy (HTTP_PROXY): the request's
			// target is in absolute form; one request per connection.
			host := req.URL.Host
			if req.URL.Port() == "" {
				host = net.JoinHostPort(req.URL.Hostname(), "80")
			}
			req.Host = host
		}
		target, err := netip.ParseAddrPort(req.Host)
		ok := false
		for _, p := range allowed {
			ok = ok || err == nil && p.Contains(target.Addr())
		}
		if !ok {
			c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
			return
		}
		up, err := net.DialTimeout("tcp", req.Host, 3*time.Second)
		if err != nil {
			c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
			return
		}
		defer up.Close()
		c.SetReadDeadline(time.Time{})
		if req.Method != "CONNECT" {
			req.Header.Del("Proxy-Authorization")
			req.Header.Set("Connection", "close")
			req.Close = true
			if req.Write(up) == nil {
				io.Copy(c, up)
			}
			return
		}
		c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		done := make(chan struct{}, 2)
		go func() { io.Copy(up, r); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		<-done
		<-done
	})
}
