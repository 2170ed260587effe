package incidentbot

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestPlanGap checks how recording a gap changes the stored gaps: pieces a
// started gap covers dropped, unstarted gaps that touch grown and folded,
// the rest new. Gaps are written "id:from-to@recorded" in minutes past
// 12:00, "*" marking a started one.
func TestPlanGap(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2025, 3, 1, 12, min, 0, 0, time.UTC) }
	gap := func(id uint64, from, to, rec int, started bool) Gap {
		g := Gap{ID: id, IncidentID: 1, Channel: "C1", From: at(from), To: at(to), Recorded: at(rec), Rev: id * 10}
		if started {
			g.Upper = "1740830700.000100"
		}
		return g
	}
	show := func(gs []Gap) []string {
		var out []string
		for _, g := range gs {
			s := fmt.Sprintf("%d:%d-%d@%d", g.ID, g.From.Minute(), g.To.Minute(), g.Recorded.Minute())
			if g.Started() {
				s += "*"
			}
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		name           string
		existing       []Gap
		from, to, rec  int
		del            []uint64
		update, create []string
	}{
		{name: "first", from: 10, to: 20, rec: 30, create: []string{"0:10-20@30"}},
		{
			name:     "other channels and incidents ignored",
			existing: []Gap{{ID: 1, IncidentID: 1, Channel: "C2", From: at(10), To: at(20)}, {ID: 2, IncidentID: 2, Channel: "C1", From: at(10), To: at(20)}},
			from:     15, to: 25, rec: 30,
			create: []string{"0:15-25@30"},
		},
		{
			name:     "overlap grows, earliest recorded kept",
			existing: []Gap{gap(1, 10, 20, 40, false)},
			from:     15, to: 25, rec: 41,
			update: []string{"1:10-25@40"},
		},
		{
			name:     "an earlier recording lowers Recorded",
			existing: []Gap{gap(1, 10, 20, 40, false)},
			from:     5, to: 10, rec: 30,
			update: []string{"1:5-20@30"},
		},
		{
			name:     "inside: written again, unchanged",
			existing: []Gap{gap(1, 10, 20, 40, false)},
			from:     12, to: 14, rec: 43,
			update: []string{"1:10-20@40"},
		},
		{
			name:     "apart: new",
			existing: []Gap{gap(1, 10, 20, 40, false)},
			from:     21, to: 25, rec: 44,
			create: []string{"0:21-25@44"},
		},
		{
			name:     "bridging folds the second into the first",
			existing: []Gap{gap(1, 10, 30, 42, false), gap(2, 40, 45, 40, false), gap(3, 50, 55, 39, false)},
			from:     28, to: 41, rec: 46,
			del:    []uint64{2},
			update: []string{"1:10-45@40"},
		},
		{
			name:     "folding reaches gaps the grown one touches",
			existing: []Gap{gap(1, 40, 50, 50, false), gap(2, 30, 40, 51, false), gap(3, 5, 10, 52, false)},
			from:     20, to: 30, rec: 53,
			del:    []uint64{1},
			update: []string{"2:20-50@50"},
		},
		{
			name:     "the first gap touched grows, the others fold into it",
			existing: []Gap{gap(1, 30, 40, 50, false), gap(2, 10, 20, 49, false), gap(3, 40, 45, 52, false)},
			from:     20, to: 30, rec: 53,
			del:    []uint64{2, 3},
			update: []string{"1:10-45@49"},
		},
		{
			name:     "covered by a started gap: nothing",
			existing: []Gap{gap(1, 10, 20, 40, true)},
			from:     12, to: 20, rec: 41,
		},
		{
			name:     "around a started gap: two new",
			existing: []Gap{gap(1, 10, 20, 40, true)},
			from:     5, to: 25, rec: 41,
			create: []string{"0:5-10@41", "0:20-25@41"},
		},
		{
			name:     "around a started gap: grow one side, new on the other",
			existing: []Gap{gap(1, 10, 20, 40, true), gap(2, 0, 3, 30, false)},
			from:     3, to: 25, rec: 41,
			update: []string{"2:0-10@30"},
			create: []string{"0:20-25@41"},
		},
		{
			name:     "started gaps never grow nor fold",
			existing: []Gap{gap(1, 10, 20, 40, true), gap(2, 20, 30, 41, true)},
			from:     15, to: 35, rec: 42,
			create: []string{"0:30-35@42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := show(tt.existing)
			plan := PlanGap(tt.existing, Gap{IncidentID: 1, Channel: "C1", From: at(tt.from), To: at(tt.to), Recorded: at(tt.rec), Upper: "1.0", Stored: 3})
			if !reflect.DeepEqual(plan.Delete, tt.del) {
				t.Errorf("Delete = %v, want %v", plan.Delete, tt.del)
			}
			if got := show(plan.Update); !reflect.DeepEqual(got, tt.update) {
				t.Errorf("Update = %v, want %v", got, tt.update)
			}
			if got := show(plan.Create); !reflect.DeepEqual(got, tt.create) {
				t.Errorf("Create = %v, want %v", got, tt.create)
			}
			for _, u := range plan.Update {
				for _, e := range tt.existing {
					if e.ID == u.ID && (e.Rev != u.Rev || e.Upper != u.Upper) {
						t.Errorf("Update changed more than the span: %+v, was %+v", u, e)
					}
				}
			}
			for _, c := range plan.Create {
				if c.IncidentID != 1 || c.Channel != "C1" || c.Rev != 0 || c.Started() {
					t.Errorf("Create = %+v, want a new gap of C1 with no progress", c)
				}
			}
			if after := show(tt.existing); !reflect.DeepEqual(after, before) {
				t.Errorf("PlanGap changed existing: %v, was %v", after, before)
			}
		})
	}
}

// TestPlanGapUTC: the planned times are UTC whatever the zone given.
func TestPlanGapUTC(t *testing.T) {
	zone := time.FixedZone("X", 3600)
	from := time.Date(2025, 3, 1, 13, 0, 0, 0, zone)
	plan := PlanGap(nil, Gap{IncidentID: 1, Channel: "C1", From: from, To: from.Add(time.Minute), Recorded: from})
	if len(plan.Create) != 1 {
		t.Fatalf("plan = %+v", plan)
	}
	c := plan.Create[0]
	if c.From.Location() != time.UTC || c.To.Location() != time.UTC || c.Recorded.Location() != time.UTC || !c.From.Equal(from) {
		t.Errorf("created %+v, want UTC times", c)
	}
}
