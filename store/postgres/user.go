package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/incidentbot/incidentbot"
)

// PutUsers stores users, replacing what was stored under the same IDs, in
// one transaction. A user whose stored record is already the same is not
// written again.
//
// It fails with EInvalid, storing nothing, when a user has no ID; with
// EUnavailable when the database cannot be written; and with ctx's error if
// ctx is done before it starts.
func (db *DB) PutUsers(ctx context.Context, users ...incidentbot.User) error {
	const op = "store: put users"
	if err := db.writable(ctx, op); err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	ids := make([]string, len(users))
	bodies := make([]string, len(users))
	seen := make(map[string]int, len(users))
	for i, u := range users {
		if u.ID == "" {
			return &incidentbot.Error{Code: incidentbot.EInvalid, Message: "a user without an ID cannot be stored", Op: op}
		}
		raw, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("%s: encode %s: %w", op, u.ID, err)
		}
		ids[i], bodies[i] = u.ID, string(raw)
		seen[u.ID] = i // the last of a repeated ID wins, as in the bbolt store
	}
	// One row per ID: ON CONFLICT cannot touch a row twice in a statement.
	var uIDs, uBodies []string
	for i, id := range ids {
		if seen[id] == i {
			uIDs, uBodies = append(uIDs, id), append(uBodies, bodies[i])
		}
	}
	start := time.Now()
	_, err := db.pool.Exec(ctx, `INSERT INTO users (id, body)
SELECT i, b::jsonb FROM unnest($1::text[], $2::text[]) AS u (i, b)
ON CONFLICT (id) DO UPDATE SET body = excluded.body WHERE users.body IS DISTINCT FROM excluded.body`, uIDs, uBodies)
	db.observe(start, err)
	return db.writeError(op, err)
}

// Users returns every stored user by ID. It fails when the database cannot
// be read (EUnavailable when unreachable) or a record cannot be decoded,
// and with ctx's error if ctx is done.
func (db *DB) Users(ctx context.Context) (map[string]incidentbot.User, error) {
	const op = "store: read users"
	if err := db.readable(ctx, op); err != nil {
		return nil, err
	}
	users, err := readUsers(ctx, db.pool, op)
	if err != nil {
		return nil, db.readError(op, err)
	}
	return users, nil
}

// readUsers reads the users table.
func readUsers(ctx context.Context, q querier, op string) (map[string]incidentbot.User, error) {
	rows, err := q.Query(ctx, `SELECT id, body FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := make(map[string]incidentbot.User)
	for rows.Next() {
		var (
			id  string
			raw []byte
		)
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		var u incidentbot.User
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("%s: decode %q: %w", op, id, err)
		}
		users[u.ID] = u
	}
	return users, rows.Err()
}
