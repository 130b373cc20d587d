package devbackend

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tracebloc/edge/internal/api"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// schema is the whole database. The UNIQUE constraints on clients are what keep one client
// per cluster and one namespace per account, also under concurrent requests. A client
// whose credential was revoked and that is anchored to a cluster no longer holds its
// namespace (clients_namespace): another cluster's client may be created there.
const schema = `
CREATE TABLE IF NOT EXISTS accounts (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS users (
	id         INTEGER PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	first_name TEXT NOT NULL,
	admin      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
	id                      INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused after a delete, as a real backend's ids
	account_id              INTEGER NOT NULL REFERENCES accounts(id),
	username                TEXT NOT NULL UNIQUE,
	password_hash           BLOB NOT NULL,
	credential_revoked      INTEGER NOT NULL DEFAULT 0,
	first_name              TEXT NOT NULL,
	namespace               TEXT NOT NULL,
	location                TEXT NOT NULL DEFAULT '',
	status                  INTEGER NOT NULL DEFAULT 2,
	cluster_id              TEXT UNIQUE,
	last_info_update        INTEGER,
	num_running_experiments INTEGER NOT NULL DEFAULT 0,
	is_decommissioned       INTEGER NOT NULL DEFAULT 0,
	decommissioned_at       INTEGER,
	date_joined             INTEGER NOT NULL,
	created_by              INTEGER REFERENCES users(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS clients_namespace ON clients(account_id, namespace)
	WHERE credential_revoked = 0 OR cluster_id IS NULL;
CREATE TABLE IF NOT EXISTS tokens (
	id         INTEGER PRIMARY KEY,
	digest     BLOB NOT NULL UNIQUE,
	kind       TEXT NOT NULL CHECK (kind IN ('user', 'machine')),
	user_id    INTEGER REFERENCES users(id),
	client_id  INTEGER REFERENCES clients(id),
	created_at INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS device_codes (
	id         INTEGER PRIMARY KEY,
	digest     BLOB NOT NULL UNIQUE,
	user_code  TEXT NOT NULL UNIQUE,
	expires_at INTEGER NOT NULL,
	interval   INTEGER NOT NULL,
	last_poll  INTEGER,
	state      TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
	user_id    INTEGER REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS device_requests (
	device_code_id     INTEGER PRIMARY KEY REFERENCES device_codes(id) ON DELETE CASCADE,
	requested_at       INTEGER NOT NULL,
	source             TEXT NOT NULL,
	cluster_id         TEXT NOT NULL,
	namespace          TEXT NOT NULL,
	client_name        TEXT NOT NULL,
	kubernetes_version TEXT NOT NULL,
	chart_version      TEXT NOT NULL
);
`

// openDB opens (and creates) the database. One connection serializes the writers, which is
// what an in-memory database needs anyway; the constraints still decide every race.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	dsn := ":memory:"
	if path != "" {
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if _, err := db.ExecContext(ctx, "PRAGMA foreign_keys = ON"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %q (delete the file to start afresh): %w", path, err)
	}
	return db, nil
}

// isUnique reports whether err is a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// digest is how secrets (tokens, device codes) are stored and looked up.
func digest(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

// account is one user's identity as the handlers need it.
type account struct {
	UserID      int64
	Email       string
	FirstName   string
	Admin       bool
	AccountID   int64
	AccountName string
}

func upsertUsers(ctx context.Context, db *sql.DB, users []User) error {
	for _, u := range users {
		if _, err := db.ExecContext(ctx, `INSERT INTO accounts(name) VALUES (?) ON CONFLICT(name) DO NOTHING`, u.Account); err != nil {
			return fmt.Errorf("add account %q: %w", u.Account, err)
		}
		_, err := db.ExecContext(ctx, `
			INSERT INTO users(email, account_id, first_name, admin)
			VALUES (?, (SELECT id FROM accounts WHERE name = ?), ?, ?)
			ON CONFLICT(email) DO UPDATE SET account_id = excluded.account_id,
				first_name = excluded.first_name, admin = excluded.admin`,
			u.Email, u.Account, u.FirstName, u.Admin)
		if err != nil {
			return fmt.Errorf("add user %q: %w", u.Email, err)
		}
	}
	return nil
}

const accountSelect = `SELECT u.id, u.email, u.first_name, u.admin, a.id, a.name
	FROM users u JOIN accounts a ON a.id = u.account_id `

func scanAccount(row *sql.Row) (*account, error) {
	var a account
	if err := row.Scan(&a.UserID, &a.Email, &a.FirstName, &a.Admin, &a.AccountID, &a.AccountName); err != nil {
		return nil, err
	}
	return &a, nil
}

func userByEmail(ctx context.Context, db *sql.DB, email string) (*account, error) {
	return scanAccount(db.QueryRowContext(ctx, accountSelect+`WHERE u.email = ?`, strings.ToLower(email)))
}

func userByID(ctx context.Context, q querier, id int64) (*account, error) {
	return scanAccount(q.QueryRowContext(ctx, accountSelect+`WHERE u.id = ?`, id))
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// client is one clients row with what the answers embed.
type client struct {
	api.EdgeDevice
	AccountName    string `json:"account_name"`
	CreatedByEmail string `json:"created_by_email"`
	passwordHash   []byte
}

const clientSelect = `SELECT c.id, c.account_id, c.username, c.password_hash, c.credential_revoked,
	c.first_name, c.namespace, c.location, c.status, c.cluster_id, c.last_info_update,
	c.num_running_experiments, c.is_decommissioned, c.decommissioned_at, c.date_joined,
	a.name, u.id, u.first_name, u.email
	FROM clients c JOIN accounts a ON a.id = c.account_id LEFT JOIN users u ON u.id = c.created_by `

type scanner interface{ Scan(dest ...any) error }

func scanClient(s scanner) (*client, error) {
	var (
		c                         client
		clusterID                 sql.NullString
		lastInfo, decomAt         sql.NullInt64
		joined                    int64
		creatorID                 sql.NullInt64
		creatorName, creatorEmail sql.NullString
	)
	err := s.Scan(&c.ID, &c.Account, &c.Username, &c.passwordHash, &c.CredentialRevoked,
		&c.FirstName, &c.Namespace, &c.Location, &c.Status, &clusterID, &lastInfo,
		&c.NumRunningExperiments, &c.IsDecommissioned, &decomAt, &joined,
		&c.AccountName, &creatorID, &creatorName, &creatorEmail)
	if err != nil {
		return nil, err
	}
	if clusterID.Valid {
		c.ClusterID = &clusterID.String
	}
	c.LastInfoUpdate = nullTime(lastInfo)
	c.DecommissionedAt = nullTime(decomAt)
	c.DateJoined = fromNanos(joined)
	if creatorID.Valid {
		c.CreatedBy = &api.CreatedBy{ID: creatorID.Int64, FirstName: creatorName.String, IsActive: true}
		c.CreatedByEmail = creatorEmail.String
	}
	c.LocationStatus = "unset"
	if c.Location != "" {
		c.LocationStatus = "set"
	}
	// The constant fields of the recorded shape (edge_device_create.json).
	c.CPUNodes = map[string]any{}
	c.GPUNodes = map[string]any{}
	c.PUEConstant = 1.0
	return &c, nil
}

func clientWhere(ctx context.Context, q querier, where string, args ...any) (*client, error) {
	return scanClient(q.QueryRowContext(ctx, clientSelect+where, args...))
}

func clientsWhere(ctx context.Context, q querier, where string, args ...any) ([]*client, error) {
	rows, err := q.QueryContext(ctx, clientSelect+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// nanos is how times are stored: Unix nanoseconds, UTC.
func nanos(t time.Time) int64 { return t.UnixNano() }

// fromNanos gives the stored time back at the microsecond precision the backend answers with.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC().Truncate(time.Microsecond) }

func nullTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
