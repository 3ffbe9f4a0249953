package detectors

import "strconv"

// alertNames is the IANA TLS Alert registry (RFC 8446 section 6 and
// later additions).
var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
	45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error", 52: "too_many_cids_requested",
	60: "export_restriction", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
	110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
	115: "unknown_psk_identity", 116: "certificate_required", 117: "general_error",
	120: "no_application_protocol", 121: "ech_required",
}

// AlertName returns the IANA name of a TLS alert description.
func AlertName(code uint8) string {
	if n, ok := alertNames[code]; ok {
		return n
	}
	return "unassigned_" + strconv.Itoa(int(code))
}

// TLSVersionName names a TLS protocol version.
func TLSVersionName(v uint16) string {
	switch {
	case v == 0x0300:
		return "SSL 3.0"
	case v == 0x0301:
		return "TLS 1.0"
	case v == 0x0302:
		return "TLS 1.1"
	case v == 0x0303:
		return "TLS 1.2"
	case v == 0x0304:
		return "TLS 1.3"
	case v>>8 == 0x7f:
		return "TLS 1.3 (draft " + strconv.Itoa(int(v&0xff)) + ")"
	case v == 0x0002:
		return "SSL 2.0"
	case v == 0:
		return ""
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

var icmp4Unreach = [...]string{
	"net unreachable", "host unreachable", "protocol unreachable", "port unreachable",
	"fragmentation needed", "source route failed", "destination network unknown",
	"destination host unknown", "source host isolated", "network administratively prohibited",
	"host administratively prohibited", "network unreachable for TOS", "host unreachable for TOS",
	"communication administratively prohibited", "host precedence violation", "precedence cutoff in effect",
}

var icmp6Unreach = [...]string{
	"no route to destination", "communication administratively prohibited",
	"beyond scope of source address", "address unreachable", "port unreachable",
	"source address failed ingress/egress policy", "reject route to destination",
	"error in source routing header", "headers too long",
}

// ICMPUnreachName names a destination-unreachable code.
func ICMPUnreachName(v6 bool, code uint8) string {
	if v6 {
		if int(code) < len(icmp6Unreach) {
			return icmp6Unreach[code]
		}
	} else if int(code) < len(icmp4Unreach) {
		return icmp4Unreach[code]
	}
	return "code " + strconv.Itoa(int(code))
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// RcodeName names a DNS response code.
func RcodeName(rc uint8) string {
	if int(rc) < len(rcodeNames) {
		return rcodeNames[rc]
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

// QtypeName names a DNS query type.
func QtypeName(t uint16) string {
	switch t {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 35:
		return "NAPTR"
	case 43:
		return "DS"
	case 46:
		return "RRSIG"
	case 48:
		return "DNSKEY"
	case 64:
		return "SVCB"
	case 65:
		return "HTTPS"
	case 252:
		return "AXFR"
	case 255:
		return "ANY"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// alertExplain returns a plain-words explanation of a fatal alert sent by
// side ("client" or "server") given what the handshake showed.
func alertExplain(code uint8, side string, certReq, clientCertEmpty bool) string {
	other := "server"
	if side == "server" {
		other = "client"
	}
	switch code {
	case 48:
		return side + " does not trust the issuer of the " + other + "'s certificate (unknown CA, or self-signed)"
	case 42:
		return side + " rejected the " + other + "'s certificate as bad (signature, key usage or name)"
	case 43:
		return side + " does not support the type of the " + other + "'s certificate"
	case 44:
		return side + " found the " + other + "'s certificate revoked"
	case 45:
		return side + " found the " + other + "'s certificate expired (or not yet valid)"
	case 46:
		return side + " could not accept the " + other + "'s certificate (certificate_unknown: often an untrusted or mismatched certificate)"
	case 116:
		return "server required a client certificate and the client sent none"
	case 40:
		if side == "server" && certReq && clientCertEmpty {
			return "server required a client certificate and the client sent none"
		}
		if side == "server" {
			return "server found nothing acceptable in the client's offer (cipher suites, groups, signature algorithms or a required client certificate)"
		}
		return "client found the server's choices unacceptable"
	case 70:
		return "no common protocol version: " + side + " does not support the version the " + other + " offered"
	case 71:
		return side + " requires more secure parameters than the " + other + " offered"
	case 112:
		return "server does not serve the requested name (SNI)"
	case 120:
		return "no common application protocol (ALPN)"
	case 86:
		return "server refused an inappropriate version fallback"
	case 47:
		return side + " received an illegal parameter in the handshake"
	case 50:
		return side + " could not decode a handshake message"
	case 51:
		return side + " could not verify a signature or Finished message (wrong key or corrupted handshake)"
	case 20:
		return side + " received a record that failed authentication"
	case 10:
		return side + " received an unexpected message"
	case 49:
		return side + " denied access after a valid certificate"
	case 80:
		return side + " hit an internal error"
	case 109:
		return side + " missed a required extension"
	case 110:
		return side + " received an unsupported extension"
	case 90:
		return side + " cancelled the handshake"
	case 41:
		return "client has no certificate to send"
	}
	return side + " aborted the handshake"
}
