package detectors

import "time"

// The server's certificate is in the clear up to TLS 1.2: its names can
// be compared with the name the client asked for (SNI). Clients that
// check the name only after the handshake (curl) then close without a
// word, and the comparison is the only way to say why. Parsing is a
// bounds-checked walk of the DER, on the reassembled message: no
// allocation, and anything unexpected leaves the result unknown.

// derNext splits the first TLV off b.
func derNext(b []byte) (tag byte, val, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag, l := b[0], int(b[1])
	b = b[2:]
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < n {
			return 0, nil, nil, false
		}
		l = 0
		for _, c := range b[:n] {
			l = l<<8 | int(c)
		}
		b = b[n:]
	}
	if l > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:l], b[l:], true
}

// derInner returns the contents of the TLV at the start of b if its tag
// is tag.
func derInner(b []byte, tag byte) ([]byte, bool) {
	t, v, _, ok := derNext(b)
	return v, ok && t == tag
}

// certDNSNames calls fn with each dNSName of the subjectAltName extension
// of the first certificate of a Certificate message body (TLS <= 1.2).
// It returns false when the names could not be read (no extension, cut
// or malformed certificate).
func certDNSNames(m []byte, fn func(name []byte)) bool {
	if len(m) < 6 {
		return false
	}
	n := int(m[3])<<16 | int(m[4])<<8 | int(m[5])
	if n > len(m)-6 {
		return false // the leaf was cut (held at most maxHelloKeep bytes)
	}
	cert, ok := derInner(m[6:6+n], 0x30)
	tbs, ok2 := derInner(cert, 0x30)
	if !ok || !ok2 {
		return false
	}
	for len(tbs) > 0 {
		tag, v, rest, ok := derNext(tbs)
		if !ok {
			return false
		}
		tbs = rest
		if tag != 0xa3 { // [3] extensions
			continue
		}
		exts, ok := derInner(v, 0x30)
		if !ok {
			return false
		}
		for len(exts) > 0 {
			tag, ext, rest, ok := derNext(exts)
			if !ok || tag != 0x30 {
				return false
			}
			exts = rest
			tag, oid, ext, ok := derNext(ext)
			if !ok || tag != 0x06 || string(oid) != "\x55\x1d\x11" { // 2.5.29.17
				continue
			}
			tag, val, ext, ok := derNext(ext)
			if ok && tag == 0x01 { // critical
				tag, val, _, ok = derNext(ext)
			}
			if !ok || tag != 0x04 {
				return false
			}
			names, ok := derInner(val, 0x30)
			if !ok {
				return false
			}
			seen := false
			for len(names) > 0 {
				tag, gn, rest, ok := derNext(names)
				if !ok {
					return false
				}
				names = rest
				if tag == 0x82 { // dNSName
					fn(gn)
					seen = true
				}
			}
			return seen
		}
		return false
	}
	return false
}

// leafTBS returns the fields of the first certificate of a Certificate
// message body (TLS <= 1.2) that the checks below read: serial, signature
// algorithm, issuer, validity, subject (DER contents), and how many
// certificates the message holds (1, or 2 for "more").
func leafTBS(m []byte) (f [5][]byte, certs int, ok bool) {
	if len(m) < 6 {
		return f, 0, false
	}
	list := int(m[0])<<16 | int(m[1])<<8 | int(m[2])
	n := int(m[3])<<16 | int(m[4])<<8 | int(m[5])
	certs = 1
	if list > 3+n {
		certs = 2
	}
	if n > len(m)-6 {
		return f, certs, false
	}
	cert, ok := derInner(m[6:6+n], 0x30)
	tbs, ok2 := derInner(cert, 0x30)
	if !ok || !ok2 {
		return f, certs, false
	}
	// TBSCertificate: [0] version (optional), serial, signature
	// algorithm, issuer, validity, subject.
	if len(tbs) > 0 && tbs[0] == 0xa0 {
		_, _, tbs, ok = derNext(tbs)
	}
	for i := 0; i < 5 && ok; i++ {
		_, f[i], tbs, ok = derNext(tbs)
	}
	return f, certs, ok
}

// validity reads a certificate's Validity (DER contents): notBefore and
// notAfter in Unix seconds.
func validity(v []byte) (notBefore, notAfter int64, ok bool) {
	t1, a, rest, ok1 := derNext(v)
	t2, b, _, ok2 := derNext(rest)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	notBefore, ok1 = derTime(t1, a)
	notAfter, ok2 = derTime(t2, b)
	return notBefore, notAfter, ok1 && ok2
}

// derTime reads a UTCTime (tag 0x17, YYMMDDHHMMSSZ) or GeneralizedTime
// (0x18, YYYYMMDDHHMMSSZ) as Unix seconds.
func derTime(tag byte, v []byte) (int64, bool) {
	var y int
	switch {
	case tag == 0x17 && len(v) == 13 && v[12] == 'Z':
		yy, ok := decimal(v[:2], 2)
		if !ok {
			return 0, false
		}
		y, v = 1900+int(yy), v[2:]
		if yy < 50 {
			y += 100
		}
	case tag == 0x18 && len(v) == 15 && v[14] == 'Z':
		yyyy, ok := decimal(v[:4], 4)
		if !ok {
			return 0, false
		}
		y, v = int(yyyy), v[4:]
	default:
		return 0, false
	}
	var f [5]int // month, day, hour, minute, second
	for i := range f {
		d, ok := decimal(v[2*i:2*i+2], 2)
		if !ok {
			return 0, false
		}
		f[i] = int(d)
	}
	if f[0] < 1 || f[0] > 12 || f[1] < 1 || f[1] > 31 || f[2] > 23 || f[3] > 59 || f[4] > 60 {
		return 0, false
	}
	return time.Date(y, time.Month(f[0]), f[1], f[2], f[3], f[4], 0, time.UTC).Unix(), true
}

// issuerCN returns the commonName of a DER Name's contents, or nil.
func issuerCN(name []byte) []byte {
	for len(name) > 0 {
		tag, set, rest, ok := derNext(name)
		if !ok || tag != 0x31 {
			return nil
		}
		name = rest
		for len(set) > 0 {
			tag, atv, r, ok := derNext(set)
			if !ok || tag != 0x30 {
				return nil
			}
			set = r
			tag, oid, v, ok := derNext(atv)
			if ok && tag == 0x06 && string(oid) == "\x55\x04\x03" { // 2.5.4.3
				if _, cn, _, ok := derNext(v); ok {
					return cn
				}
			}
		}
	}
	return nil
}

// nameMatches reports whether certificate name pattern covers host, as
// clients check it (RFC 6125): case-insensitive, a leading "*." standing
// for exactly one label.
func nameMatches(pattern, host []byte) bool {
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(pattern) > 2 && pattern[0] == '*' && pattern[1] == '.' {
		i := 0
		for i < len(host) && host[i] != '.' {
			i++
		}
		if i == 0 || i == len(host) {
			return false
		}
		return equalFold(pattern[1:], host[i:])
	}
	return equalFold(pattern, host)
}

func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
