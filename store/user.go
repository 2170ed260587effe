package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// PutUsers stores users, replacing what was stored under the same IDs, in
// one durable transaction shared with concurrent writers. A user whose
// stored record is already the same is not written again.
//
// It fails with EInvalid, storing nothing, when a user has no ID; with
// EUnavailable when the database cannot be written; and with ctx's error if
// ctx is done before it starts.
func (db *DB) PutUsers(ctx context.Context, users ...incidentbot.User) error {
	const op = "store: put users"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	raws := make([][]byte, len(users))
	for i, u := range users {
		if u.ID == "" {
			return &incidentbot.Error{Code: incidentbot.EInvalid, Message: "a user without an ID cannot be stored", Op: op}
		}
		raw, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("%s: encode %s: %w", op, u.ID, err)
		}
		raws[i] = raw
	}
	return db.write(op, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		for i, u := range users {
			key := []byte(u.ID)
			if string(b.Get(key)) == string(raws[i]) {
				continue
			}
			if err := b.Put(key, raws[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Users returns every stored user by ID. It fails when the file cannot be
// read or a record cannot be decoded, and with ctx's error if ctx is done.
func (db *DB) Users(ctx context.Context) (map[string]incidentbot.User, error) {
	const op = "store: read users"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	users := make(map[string]incidentbot.User)
	err := db.view(op, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u incidentbot.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("%s: decode %q: %w", op, k, err)
			}
			users[u.ID] = u
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}
