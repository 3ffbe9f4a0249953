package detectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// bodyEvents returns "NOTE uri body_bytes content_length chunked" for the
// incomplete-answer events in out.
func bodyEvents(t *testing.T, out *collect) []string {
	t.Helper()
	var got []string
	for _, l := range out.lines {
		if !bytes.Contains(l, []byte(`"note":"HTTP_RESPONSE_`)) {
			continue
		}
		var e struct {
			Note string `json:"note"`
			HTTP struct {
				URI    string `json:"uri"`
				Body   int64  `json:"body_bytes"`
				Length int64  `json:"content_length"`
				Chunk  bool   `json:"chunked"`
			} `json:"http"`
		}
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got = append(got, fmt.Sprintf("%s %s %d %d %v", e.Note, e.HTTP.URI, e.HTTP.Body, e.HTTP.Length, e.HTTP.Chunk))
	}
	return got
}

// TestResponseBodyCases: how each answer's end is found (Content-Length,
// chunked, none), on keep-alive and pipelined connections, and what is
// not a truncated or stalled answer.
func TestResponseBodyCases(t *testing.T) {
	open := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	get := func(uri string) seg {
		return seg{true, "A", []byte("GET " + uri + " HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6}
	}
	srv := func(s string) seg { return seg{false, "A", []byte(s), 1e6} }
	ack := seg{true, "A", nil, 1e6}
	srvFIN := seg{false, "FA", nil, 1e6}
	cliFIN := func(after int64) seg { return seg{true, "FA", nil, after} }
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"keep-alive: the second answer is cut", []seg{get("/one"), srv("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), ack,
			get("/two"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /two 10 100 false"},
		{"keep-alive: whole answers, then the server closes the idle connection", []seg{get("/one"), srv("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"), srv("lo"), ack,
			get("/two"), srv("HTTP/1.1 404 Not Found\r\ncontent-length:3\r\n\r\nno\n"), ack, srvFIN}, ""},
		{"pipelined answers in one segment, the second cut", []seg{get("/a"), get("/b"),
			srv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /b 3 9 false"},
		{"100 Continue, then a cut answer", []seg{get("/up"), srv("HTTP/1.1 100 Continue\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n01234567890123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /up 20 50 false"},
		{"HEAD: a length without a body", []seg{{true, "A", []byte("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6}, srv("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), ack, srvFIN}, ""},
		{"304 and 204 have no body", []seg{get("/c"), srv("HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n"), ack,
			get("/d"), srv("HTTP/1.1 204 No Content\r\n\r\n"), ack, srvFIN}, ""},
		{"chunked: the last chunk split over segments", []seg{get("/s"), srv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), srv("0\r\n"), srv("\r\n"), ack, srvFIN}, ""},
		{"chunked: no last chunk", []seg{get("/n"), srv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /n 10 0 true"},
		{"chunked: the last chunk missing from the capture is not missing", []seg{get("/m"), srv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), {false, "G", []byte("0\r\n\r\n"), 0}, ack, srvFIN}, ""},
		{"chunked: the last segment resent", []seg{get("/r"), srv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), {false, "TA", []byte("0\r\n\r\n"), 1e6}, ack, srvFIN}, ""},
		{"no length: the answer ends with the connection", []seg{get("/old"), srv("HTTP/1.0 200 OK\r\n\r\nsome"), ack, srvFIN}, ""},
		{"a body partly missing from the capture, whole", []seg{get("/g"), srv("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nab"), {false, "G", []byte("cdef"), 0}, srv("gh"), ack, srvFIN}, ""},
		{"a body partly missing from the capture, cut", []seg{get("/g"), srv("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nab"), {false, "G", []byte("cdef"), 0}, srv("gh"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /g 8 20 false"},
		{"the client gives up on a stalled body", []seg{get("/slow"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), ack, cliFIN(2e9)},
			"HTTP_RESPONSE_STALLED /slow 10 100 false"},
		{"the client closes while the body still comes", []seg{get("/fast"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), ack, cliFIN(1e7)}, ""},
		{"the client stopped reading (zero window): not the server's stall", []seg{get("/full"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), {true, "A0", nil, 1e6}, {true, "A0", nil, 12e9}}, ""},
		{"a stalled body at the capture's end", []seg{get("/stuck"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), ack, {true, "A", nil, 12e9}},
			"HTTP_RESPONSE_STALLED /stuck 10 100 false"},
		{"a header over two segments, the body cut", []seg{get("/big"), srv("HTTP/1.1 200 OK\r\nSet-Cookie: a=" + strings.Repeat("x", 1400) + "\r\n"),
			srv("Content-Length: 100\r\n\r\n0123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /big 10 100 false"},
		{"a header cut inside its Content-Length line", []seg{get("/cl"), srv("HTTP/1.1 200 OK\r\nServer: x\r\nConte"), srv("nt-Len"), srv("gth: 100\r\n\r\n0123"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /cl 4 100 false"},
		{"a header cut between the CR and LF of its end", []seg{get("/crlf"), srv("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r"), srv("\n0123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /crlf 10 50 false"},
		{"a header cut between its last two line ends", []seg{get("/end"), srv("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n"), srv("\r\n0123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /end 10 50 false"},
		{"the status line alone in the first segment, a chunked body without its last chunk", []seg{get("/st"), srv("HTTP/1.1 200 OK\r\n"),
			srv("Date: x\r\nX-Long: " + strings.Repeat("y", 3000) + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /st 10 0 true"},
		{"keep-alive: a split header, a whole body, then the next answer cut", []seg{get("/one"), srv("HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 2000)),
			srv(strings.Repeat("a", 2000) + "\r\nContent-Length: 5\r\n\r\nhel"), srv("lo"), ack,
			get("/two"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), ack, srvFIN},
			"HTTP_RESPONSE_TRUNCATED /two 10 100 false"},
		{"a split header, the body whole", []seg{get("/w"), srv("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"), srv("Content-Length: 4\r\n"), srv("\r\nbody"), ack, srvFIN}, ""},
		{"a split header, the body stalled", []seg{get("/sl"), srv("HTTP/1.1 200 OK\r\nContent-"), srv("Length: 100\r\n\r\n0123456789"), ack, cliFIN(2e9)},
			"HTTP_RESPONSE_STALLED /sl 10 100 false"},
		{"a split header's Content-Length line too long to read: not followed", []seg{get("/pad"), srv("HTTP/1.1 200 OK\r\nContent-Length:" + strings.Repeat(" ", 60)),
			srv("100\r\n\r\n0123"), ack, srvFIN}, ""},
		{"a split 204 header: no body", []seg{get("/nc"), srv("HTTP/1.1 204 No Content\r\nX-B: b"), srv("\r\nContent-Length: 9\r\n\r\n"), ack, srvFIN}, ""},
		{"an upgrade: the connection speaks something else", []seg{get("/ws"), srv("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"), ack, srvFIN}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs := append(append([]seg{}, open...), tc.segs...)
			got := bodyEvents(t, replay(t, 8080, segs))
			want := []string{}
			if tc.want != "" {
				want = []string{tc.want}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestResetMidAnswer: a server's reset in the middle of an answer's body
// says which answer it broke off, and how far it had come.
func TestResetMidAnswer(t *testing.T) {
	out := replay(t, 8080, []seg{
		{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
		{true, "A", []byte("GET /partial HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6},
		{false, "A", []byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"), 1e6},
		{true, "A", nil, 1e6},
		{false, "RA", nil, 1e8},
	})
	var got []string
	for _, l := range out.lines {
		if bytes.Contains(l, []byte(`"note":"TCP_RESET"`)) {
			got = append(got, string(l))
		}
	}
	if len(got) != 1 || !bytes.Contains([]byte(got[0]), []byte(", in the middle of its 200 answer to GET /partial from client 198.18.0.2 after 10 of its 1000 body bytes (Content-Length): the client got a truncated answer")) ||
		!bytes.Contains([]byte(got[0]), []byte(`"http":{"method":"GET","uri":"/partial","status_code":200,"body_bytes":10,"content_length":1000}`)) {
		t.Errorf("TCP_RESET events: %q", got)
	}
}
