package detectors

// PgBouncer, the pooler in front of most PostgreSQL servers in
// Kubernetes (CloudNativePG's Pooler, Zalando's operator, Bitnami's
// chart), answers clients with PostgreSQL's ErrorResponse but its own
// words. Until 1.22 every one of them is "ERROR 08P01", which alone reads
// as a protocol violation; later releases send FATAL, still mostly with
// 08P01. Its message is what names the cause, so the message is what is
// matched here, whatever the code and severity. PgBouncer closes the
// connection after each of these.

// pgbouncerMsg is one PgBouncer message, matched by its beginning.
type pgbouncerMsg struct {
	prefix string
	hint   string
}

var pgbouncerMsgs = [...]pgbouncerMsg{
	{"no more connections allowed", "PgBouncer has no client slot left (the limit in parentheses: max_client_conn, or a per-database or per-user maximum): too many client connections, counting every replica's pool"},
	{"query_wait_timeout", "no server connection became free for the query within PgBouncer's query_wait_timeout: the pool (default_pool_size, max_db_connections) is held by long or idle-in-transaction sessions, or PgBouncer cannot reach the server"},
	{"client_idle_timeout", "PgBouncer closed the idle client connection (client_idle_timeout): keep the client pool's idle timeout below PgBouncer's"},
	{"client_login_timeout", "the login did not finish within PgBouncer's client_login_timeout: PgBouncer got no server connection to log the client in (the server is down, or refuses PgBouncer)"},
	{"server login has been failing", "PgBouncer's own login to the PostgreSQL server behind it keeps failing (the server is down, or PgBouncer's credentials for it are wrong); it retries every server_login_retry"},
	{"pgbouncer cannot connect to server", "PgBouncer cannot connect to the PostgreSQL server behind it"},
	{"server DNS lookup failed", "PgBouncer cannot resolve the host name of the PostgreSQL server behind it"},
	{"unsupported startup parameter", "the client sent a startup parameter PgBouncer does not pass on: list it in PgBouncer's ignore_startup_parameters (drivers send extra_float_digits, search_path or options)"},
	{"no such database", "PgBouncer's [databases] section has no entry for this database (and no * fallback)"},
	{"no such user", "the user is in neither PgBouncer's auth_file nor its auth_query's answer"},
	{"password authentication failed", "wrong password, or a user PgBouncer does not know (not in its auth_file, nor found by its auth_query), or its auth_file holds another password"},
	{"SASL authentication failed", "wrong password, or a user PgBouncer does not know (not in its auth_file, nor found by its auth_query), or its auth_file holds another password"},
	{"certificate authentication failed", "PgBouncer's auth_type=cert: the client sent no certificate, or one not for this user"},
	{"\"trust\" authentication failed", "the user is not in PgBouncer's auth_file"},
	{"SSL required", "PgBouncer requires TLS from clients (client_tls_sslmode) and this one did not use it"},
	{"login rejected", "PgBouncer's auth_hba_file has no rule that lets this client in"},
	{"bouncer config error", "PgBouncer's configuration does not allow this login (its log says which setting)"},
	{"query timeout", "PgBouncer ended a query that ran past its query_timeout"},
	{"query_timeout", "PgBouncer ended a query that ran past its query_timeout"},
	{"idle transaction timeout", "the session sat idle inside a transaction past PgBouncer's idle_transaction_timeout"},
	{"server conn crashed?", "the server connection under this session broke: the PostgreSQL server crashed, restarted or failed over"},
	{"database configuration changed", "PgBouncer reloaded its configuration and closed this database's sessions"},
	{"database removed", "PgBouncer reloaded its configuration without this database"},
	{"pooler is shutting down", "PgBouncer is shutting down"},
}

// The PostgreSQL server's own login errors, which PgBouncer relays to the
// clients waiting on a pool whose login to the server failed, with its
// own code 08P01: the server's code they stand for.
var pgRelayed = [...]struct{ prefix, code string }{
	{"password authentication failed for user", "28P01"},
	{"no pg_hba.conf entry", "28000"},
	{"pg_hba.conf rejects", "28000"},
	{"role \"", "28000"},
	{"database \"", "3D000"},
	{"sorry, too many clients", "53300"},
	{"remaining connection slots are reserved", "53300"},
	{"the database system is", "57P03"},
}

// pgbouncerHint returns what a PgBouncer message means, or, for a
// server's login error PgBouncer relayed, "" and the server's code it
// stands for; "", "" when msg is not PgBouncer's.
func pgbouncerHint(code, msg []byte) (hint, relayed string) {
	for i := range pgbouncerMsgs {
		m := &pgbouncerMsgs[i]
		if hasPrefix(msg, m.prefix) {
			if m.prefix == "password authentication failed" && len(msg) > len(m.prefix) {
				break // the server's own "… for user X": relayed, below
			}
			return m.hint, ""
		}
	}
	if string(code) != "08P01" {
		return "", ""
	}
	for _, r := range pgRelayed {
		if hasPrefix(msg, r.prefix) {
			return "", r.code
		}
	}
	return "", ""
}

// hasPrefix is bytes.HasPrefix for a string prefix, without converting it.
func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}
