package detectors

import "testing"

func TestServerErrorStatus(t *testing.T) {
	for line, want := range map[string]int{
		"HTTP/1.1 502 Bad Gateway\r\n":     502,
		"HTTP/1.0 503 Service Unavailable": 503,
		"HTTP/1.1 599\r\n":                 599,
		"HTTP/1.1 500 ":                    500,
		"HTTP/1.1 404 Not Found\r\n":       0,
		"HTTP/1.1 200 OK\r\n":              0,
		"HTTP/1.1 5x0 Bad\r\n":             0,
		"HTTP/1.1 5000 Bad\r\n":            0,
		"HTTP/2 502\r\n":                   0,
		"HTTP/1.1 50":                      0,
		"GET /HTTP/1.1 500 x":              0,
	} {
		if got := serverErrorStatus([]byte(line)); got != want {
			t.Errorf("%q: %d, want %d", line, got, want)
		}
	}
}

func TestIsLongPoll(t *testing.T) {
	for uri, want := range map[string]bool{
		"/v1/health/service/web?index=1234&wait=300000ms&passing=1": true,
		"/v1/kv/config?wait=5m":                                  true,
		"/api/v1/namespaces/a/pods?watch=true&resourceVersion=1": true,
		"/api/v1/pods?timeoutSeconds=300&watch=1":                true,
		"/v2/keys/foo?wait=true":                                 true,
		"/upstream-hang/x":                                       false,
		"/search?q=wait=&page=2":                                 false,
		"/await=1":                                               false,
		"/x?await=1&rewatch=2":                                   false,
		"/x?WAIT=1":                                              true,
	} {
		if got := isLongPoll([]byte(uri)); got != want {
			t.Errorf("%s: %v, want %v", uri, got, want)
		}
	}
}

// TestAnswerDetail: what an error answer's first segment says about it:
// who answered (Server), when to come back (Retry-After), and its text,
// from Envoy's plain-text bodies and the Kubernetes API's JSON Status, not
// from an HTML page.
func TestAnswerDetail(t *testing.T) {
	for _, tc := range []struct {
		name, answer             string
		code                     int
		server, retryAfter, said string
	}{
		{"envoy, no healthy upstream", "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\ncontent-type: text/plain\r\ndate: Fri, 27 Nov 2026 14:00:00 GMT\r\nserver: envoy\r\n\r\nno healthy upstream", 503, "envoy", "", "no healthy upstream"},
		{"envoy, connect failure", "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nserver: istio-envoy\r\n\r\nupstream connect error or disconnect/reset before headers. reset reason: connection failure\n", 503, "istio-envoy", "", "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{"kubernetes Status", "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\r\n{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Too many requests, please try again later.\",\"reason\":\"TooManyRequests\",\"code\":429}", 429, "", "1", "Too many requests, please try again later."},
		{"haproxy, HTML", "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n", 503, "", "", "No server is available to handle this request."},
		{"nginx, HTML", "HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html>\r\n<head><title>502 Bad Gateway</title></head>", 502, "nginx/1.22.1", "", ""},
		{"FastAPI, detail", "HTTP/1.1 503 Service Unavailable\r\nserver: uvicorn\r\ncontent-type: application/json\r\n\r\n{\"detail\":\"database connection pool exhausted\"}", 503, "uvicorn", "", "database connection pool exhausted"},
		{"ASP.NET problem details", "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/problem+json; charset=utf-8\r\nServer: Kestrel\r\n\r\n{\"type\":\"https://tools.ietf.org/html/rfc9110#section-15.6.1\",\"title\":\"An error occurred while processing your request.\",\"status\":500,\"traceId\":\"00-1\"}", 500, "Kestrel", "", "An error occurred while processing your request."},
		{"Elasticsearch, error.reason", "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{\"error\":{\"root_cause\":[],\"type\":\"search_phase_execution_exception\",\"reason\":\"all shards failed\",\"phase\":\"query\"},\"status\":503}", 503, "", "", "all shards failed"},
		{"Spring Boot without its message", "HTTP/1.1 500 \r\nContent-Type: application/json\r\n\r\n{\"timestamp\":\"2026-11-27T17:00:00.000+00:00\",\"status\":500,\"error\":\"Internal Server Error\",\"path\":\"/orders\"}", 500, "", "", "Internal Server Error"},
		{"the phrase repeated is skipped", "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n{\"error\":\"Internal Server Error\",\"path\":\"/orders\"}", 500, "", "", ""},
		{"pretty-printed, escaped quote", "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n\r\n{\n  \"message\" : \"upstream \\\"orders\\\" refused\"\n}", 502, "", "", `upstream \"orders\" refused`},
		{"body in the next segment", "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n", 500, "", "", ""},
	} {
		d := answerDetail([]byte(tc.answer), tc.code)
		if string(d.server) != tc.server || string(d.retryAfter) != tc.retryAfter || string(d.said) != tc.said {
			t.Errorf("%s: server %q retry-after %q said %q", tc.name, d.server, d.retryAfter, d.said)
		}
	}
}

// TestJSONUnescape: a JSON error message is quoted with its escapes
// decoded, as the Kubernetes API's messages quote names.
func TestJSONUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`Internal error occurred: failed calling webhook \"validate.nginx.ingress.kubernetes.io\": failed to call webhook: Post \"https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s\": dial tcp 10.96.12.7:443: connect: connection refused`: `Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: Post "https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s": dial tcp 10.96.12.7:443: connect: connection refused`,
		`a\\b\/c\nd\u0041\u00e9`: `a\b/c dA?`,
		`cut at the end \`:       `cut at the end \`,
		`short \u12`:             `short ?`,
	} {
		if got := string(jsonUnescape(nil, []byte(in))); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
