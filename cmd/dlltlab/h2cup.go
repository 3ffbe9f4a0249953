package main

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2cUpgradeServer serves cleartext HTTP/1.1 that grants an "Upgrade:
// h2c" request (RFC 7540 section 3.2), as Go's h2c handler, Jetty, Tomcat
// and Netty can: the upgrading request is answered as stream 1 of an
// HTTP/2 connection. /fail answers 503, /slow after 4 s, anything else
// 200.
func h2cUpgradeServer(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s over %s\n", r.URL.Path, r.Proto)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(4 * time.Second):
			fmt.Fprintln(w, "late")
		case <-r.Context().Done():
		}
	})
	s := &http.Server{Addr: addr, Handler: h2c.NewHandler(mux, &http2.Server{}), ReadHeaderTimeout: 10 * time.Second}
	return s.ListenAndServe()
}
