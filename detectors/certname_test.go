package detectors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// certMsg builds a TLS 1.2 Certificate message body holding one
// certificate made by crypto/x509 (the reference encoder).
func certMsg(t testing.TB, cn string, dns []string, ips []net.IP, critical bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		DNSNames: dns, IPAddresses: ips,
	}
	if critical {
		// An empty subject makes crypto/x509 mark the SAN critical.
		tpl.Subject = pkix.Name{}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	n := len(der)
	m := []byte{byte((n + 3) >> 16), byte((n + 3) >> 8), byte(n + 3), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(m, der...)
}

func TestCertDNSNames(t *testing.T) {
	for _, c := range []struct {
		name     string
		msg      []byte
		want     string
		readable bool
	}{
		{"san", certMsg(t, "srv.test", []string{"srv.test", "*.srv.test"}, nil, false), "srv.test,*.srv.test", true},
		{"critical san", certMsg(t, "", []string{"only.test"}, nil, true), "only.test", true},
		{"ip only", certMsg(t, "x", nil, []net.IP{net.ParseIP("198.18.0.1")}, false), "", false},
		{"no san", certMsg(t, "cn-only.test", nil, nil, false), "", false},
	} {
		var got []string
		ok := certDNSNames(c.msg, func(n []byte) { got = append(got, string(n)) })
		if ok != c.readable || strings.Join(got, ",") != c.want {
			t.Errorf("%s: %v %q, want %v %q", c.name, ok, got, c.readable, c.want)
		}
		// Every cut of the message is refused or read, never a panic.
		for i := range c.msg {
			certDNSNames(c.msg[:i], func([]byte) {})
		}
	}
}

func TestNameMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"srv.test", "srv.test", true},
		{"SRV.test", "srv.TEST.", true},
		{"*.srv.test", "a.srv.test", true},
		{"*.srv.test", "srv.test", false},
		{"*.srv.test", "a.b.srv.test", false},
		{"*.srv.test", ".srv.test", false},
		{"srv.test", "wrong.test", false},
		{"*", "anything", false},
	} {
		if got := nameMatches([]byte(c.pattern), []byte(c.host)); got != c.want {
			t.Errorf("%q vs %q: %v", c.pattern, c.host, got)
		}
	}
}

func FuzzCertDNSNames(f *testing.F) {
	f.Add(certMsg(f, "srv.test", []string{"srv.test", "*.srv.test"}, nil, false))
	f.Add(certMsg(f, "", []string{"only.test"}, nil, true))
	f.Fuzz(func(t *testing.T, m []byte) {
		certDNSNames(m, func(n []byte) {
			if len(n) > len(m) {
				t.Fatal("name longer than the message")
			}
		})
	})
}

func TestLeafOnly(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(cn, issuerCN string, ca bool) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: ca, BasicConstraintsValid: true}
		parent := tmpl
		if issuerCN != cn {
			parent = &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: issuerCN}}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	msg := func(certs ...[]byte) []byte {
		var body []byte
		for _, c := range certs {
			body = append(body, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
			body = append(body, c...)
		}
		return append([]byte{byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	leaf, inter, self := mk("api.demo.test", "Lab Intermediate CA", false), mk("Lab Intermediate CA", "Lab Root CA", true), mk("self.test", "self.test", false)
	for _, tc := range []struct {
		name   string
		m      []byte
		only   bool
		issuer string
		ok     bool
	}{
		{"leaf alone", msg(leaf), true, "Lab Intermediate CA", true},
		{"leaf and intermediate", msg(leaf, inter), false, "", true},
		{"self-signed", msg(self), false, "self.test", true},
		{"cut", msg(leaf)[:40], false, "", false},
		{"empty", []byte{0, 0, 0}, false, "", false},
	} {
		var st tlsState
		st.readLeaf(tc.m)
		ok := st.notAfter != 0 // every certificate here has a validity
		if st.leafOnly != tc.only || ok != tc.ok || string(st.issuer[:st.issuerLen]) != tc.issuer || st.selfSigned != (tc.name == "self-signed") {
			t.Errorf("%s: leafOnly %v selfSigned %v issuer %q read %v, want %v %q %v", tc.name, st.leafOnly, st.selfSigned, st.issuer[:st.issuerLen], ok, tc.only, tc.issuer, tc.ok)
		}
	}
}

func TestCertValidityWords(t *testing.T) {
	const nb, na = 1795000000, 1795086400 // a day apart
	for _, tc := range []struct {
		now  int64
		want string
	}{
		{na + 3*86400 + 5, "; the server's certificate expired on 2026-11-19 11:06 UTC, 3 days before this connection"},
		{na + 2, "expired on 2026-11-19 11:06 UTC, 2 s before"},
		{na + 7300, "expired on 2026-11-19 11:06 UTC, 2 h before"},
		{nb - 60, "; the server's certificate is valid only from 2026-11-18 11:06 UTC: the client's clock is behind"},
		{nb + 60, "; the server's certificate is valid from 2026-11-18 11:06 UTC to 2026-11-19 11:06 UTC by this capture's clock: the client's clock is probably wrong"},
	} {
		st := &tlsState{notBefore: nb, notAfter: na}
		if got := string(st.appendValidity(nil, tc.now*1e9)); !strings.Contains(got, tc.want) {
			t.Errorf("now %d: %q lacks %q", tc.now, got, tc.want)
		}
	}
	for _, tc := range []struct {
		tag  byte
		v    string
		want int64
		ok   bool
	}{
		{0x17, "261126000843Z", 1795651723, true},
		{0x18, "20261126000843Z", 1795651723, true},
		{0x17, "491231235959Z", 2524607999, true},
		{0x17, "500101000000Z", -631152000, true},
		{0x17, "261326000843Z", 0, false},
		{0x17, "2611260008Z", 0, false},
		{0x18, "2026112600084xZ", 0, false},
	} {
		got, ok := derTime(tc.tag, []byte(tc.v))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%x %s: %d %v, want %d %v", tc.tag, tc.v, got, ok, tc.want, tc.ok)
		}
	}
}
