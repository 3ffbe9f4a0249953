module github.com/dlltagent/dlltagent

go 1.26.8

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/google/gopacket v1.1.19
	github.com/pkg/profile v1.7.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/felixge/fgprof v0.9.3 // indirect
	github.com/google/pprof v0.0.0-20211214055906-6f57359322fd // indirect
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859 // indirect
)
