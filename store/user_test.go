package store

import (
	"context"
	"testing"

	"github.com/incidentbot/incidentbot"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if users, err := db.Users(ctx); err != nil || len(users) != 0 {
		t.Fatalf("Users of a new database = %v, %v", users, err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"}, incidentbot.User{ID: "U2", Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U2", Name: "Bob B."}, incidentbot.User{ID: "U1", Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx); err != nil {
		t.Errorf("PutUsers() = %v", err)
	}
	users, err := db.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]incidentbot.User{"U1": {ID: "U1", Name: "ann"}, "U2": {ID: "U2", Name: "Bob B."}}
	if len(users) != len(want) {
		t.Fatalf("Users = %v, want %v", users, want)
	}
	for id, u := range want {
		if users[id] != u {
			t.Errorf("Users[%s] = %+v, want %+v", id, users[id], u)
		}
	}

	err = db.PutUsers(ctx, incidentbot.User{ID: "U3", Name: "cy"}, incidentbot.User{Name: "nobody"})
	if code(err) != incidentbot.EInvalid {
		t.Errorf("PutUsers with an empty ID = %v, want EInvalid", err)
	}
	if users, _ := db.Users(ctx); len(users) != 2 {
		t.Errorf("a refused PutUsers stored something: %v", users)
	}
}
