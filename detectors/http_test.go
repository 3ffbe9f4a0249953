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
