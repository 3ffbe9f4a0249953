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
