package templates

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
)

// logItem is a message log entry being built: the event that created it and
// what later happened to it.
type logItem struct {
	ev      *incidentbot.TimelineEvent // the event that created the entry
	text    string                     // current text, Slack markup unresolved
	files   []incidentbot.File
	notes   []*incidentbot.TimelineEvent // edits, pins and key marks, in time order
	deleted *incidentbot.TimelineEvent
	replies []int
	parent  int // -1 at top level
}

// buildTimeline fills d.KeyEvents and d.Log from the events.
func buildTimeline(d *Data, inc *incidentbot.Incident, events []incidentbot.TimelineEvent, n names) {
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareEvents(&events[a], &events[b]) })

	// Messages first, so that edits, deletions and pins, whatever their time,
	// find what they are about.
	items := make([]logItem, 0, len(events))
	byTS := make(map[string]int)
	for _, i := range order {
		ev := &events[i]
		switch ev.Kind {
		case incidentbot.EventEdited, incidentbot.EventDeleted, incidentbot.EventPinned, incidentbot.EventKeyMarked:
			continue
		case incidentbot.EventMessage, incidentbot.EventFileShared:
			if j, ok := byTS[ev.TS]; ok && ev.TS != "" {
				it := &items[j]
				it.files = append(it.files, ev.Files...)
				if it.text == "" {
					it.text = ev.Text
				}
				continue
			}
			if ev.TS != "" {
				byTS[ev.TS] = len(items)
			}
		}
		items = append(items, logItem{ev: ev, text: ev.Text, files: ev.Files, parent: -1})
	}
	orphans := false
	for _, i := range order {
		ev := &events[i]
		switch ev.Kind {
		case incidentbot.EventEdited, incidentbot.EventDeleted, incidentbot.EventPinned, incidentbot.EventKeyMarked:
		default:
			continue
		}
		j, ok := byTS[ev.TS]
		if !ok || ev.TS == "" {
			// About a message that was never captured: the entry stands alone,
			// at the time of the event. An edited or deleted one becomes the
			// message, which later edits find.
			orphans = true
			j = len(items)
			items = append(items, logItem{ev: ev, parent: -1})
			if !isMessage(ev) {
				continue
			}
			if ev.TS != "" {
				byTS[ev.TS] = j
			}
		}
		it := &items[j]
		switch ev.Kind {
		case incidentbot.EventEdited:
			it.text = ev.Text
			it.notes = append(it.notes, ev)
		case incidentbot.EventDeleted:
			if ev.PrevText != "" {
				it.text = ev.PrevText
			}
			it.deleted = ev
		default:
			it.notes = append(it.notes, ev)
		}
	}
	itemOrder := make([]int, len(items))
	for i := range itemOrder {
		itemOrder[i] = i
	}
	if orphans {
		slices.SortStableFunc(itemOrder, func(a, b int) int { return compareEvents(items[a].ev, items[b].ev) })
	}
	for _, i := range itemOrder {
		it := &items[i]
		if p, ok := byTS[it.ev.ThreadTS]; ok && isReply(it.ev) && p != i && !isReply(items[p].ev) {
			it.parent = p
			items[p].replies = append(items[p].replies, i)
		}
	}

	d.KeyEvents = keyEvents(inc, events, order, items, byTS, n)
	d.Log = renderLog(items, itemOrder, inc, n)
}

// compareEvents orders events by time, then by commit order.
func compareEvents(a, b *incidentbot.TimelineEvent) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// isMessage reports whether an entry created by ev is a message: captured,
// and not a pin or mark of a message that was not captured.
func isMessage(ev *incidentbot.TimelineEvent) bool {
	return ev.Kind.Captured() && ev.Kind != incidentbot.EventPinned && ev.Kind != incidentbot.EventKeyMarked
}

// isReply reports whether ev is a message in a thread, not its parent.
func isReply(ev *incidentbot.TimelineEvent) bool {
	return ev.ThreadTS != "" && ev.ThreadTS != ev.TS && isMessage(ev)
}

// keyEvents picks the key-event timeline: opening, impact start, status
// updates, severity and role changes, pinned and :pushpin:-marked messages
// (each message once), messages from other channels added with the message
// shortcut, pages, missed status updates, the channel's life
// (archived, deleted, unusable, usable again, refused), resolution.
func keyEvents(inc *incidentbot.Incident, events []incidentbot.TimelineEvent, order []int, items []logItem, byTS map[string]int, n names) []KeyEvent {
	var out []KeyEvent
	if !inc.ImpactStartedAt.IsZero() {
		k := KeyEvent{At: utc(inc.ImpactStartedAt), Kind: string(incidentbot.EventImpactStarted), Summary: "**Impact started**"}
		for i := len(events) - 1; i >= 0; i-- {
			if events[i].Kind == incidentbot.EventImpactStarted {
				k.Actor = n.nameOrEmpty(events[i].Actor)
				if k.Actor != "" {
					k.Summary += " (recorded by " + bold(k.Actor) + ")"
				}
				break
			}
		}
		out = append(out, k)
	}
	marked := make(map[string]bool)
	for _, i := range order {
		ev := &events[i]
		var summary string
		var text Text
		switch ev.Kind {
		case incidentbot.EventOpened, incidentbot.EventStatus, incidentbot.EventSeverity, incidentbot.EventRole,
			incidentbot.EventPage, incidentbot.EventPageResolved, incidentbot.EventOnCall,
			incidentbot.EventReminder, incidentbot.EventResolved,
			incidentbot.EventChannelArchived, incidentbot.EventChannelUnarchived, incidentbot.EventChannelDeleted,
			incidentbot.EventChannelGone, incidentbot.EventChannelBack, incidentbot.EventChannelRefused,
			incidentbot.EventTimelineAdded:
			summary, text = describe(ev, inc, n)
		case incidentbot.EventPinned, incidentbot.EventKeyMarked:
			if ev.TS != "" && (ev.TS == inc.HeaderTS || marked[ev.TS]) {
				continue
			}
			marked[ev.TS] = true
			summary, text = describeMarked(ev, inc, items, byTS, n)
		default:
			continue
		}
		out = append(out, KeyEvent{At: utc(ev.At), Kind: string(ev.Kind), Actor: n.nameOrEmpty(ev.Actor), Summary: summary, Text: text})
	}
	// The impact start is usually before everything else, but not always.
	slices.SortStableFunc(out, func(a, b KeyEvent) int { return a.At.t.Compare(b.At.t) })
	return out
}

// describeMarked describes a pin or :pushpin: mark, with the text of the
// message it is about, found in items by its ts. A :pushpin: on a file
// (ev.Files set; its TS is the message that shared the file) names the
// file, with its link, and who shared it.
func describeMarked(ev *incidentbot.TimelineEvent, inc *incidentbot.Incident, items []logItem, byTS map[string]int, n names) (string, Text) {
	verb := "pinned"
	if ev.Kind == incidentbot.EventKeyMarked {
		verb = "marked as a key event (:pushpin:)"
	}
	by := ""
	if ev.Actor != "" {
		by = " by " + bold(n.name(ev.Actor))
	}
	if ev.TS != "" && ev.TS == inc.HeaderTS {
		return "Incident header " + verb + by, ""
	}
	j, ok := byTS[ev.TS]
	if len(ev.Files) > 0 {
		// A :pushpin: on a file itself: the file, with its link, and the
		// message that shared it.
		var f strings.Builder
		writeFileLink(&f, ev.Files[0])
		if !ok || ev.TS == "" {
			return "File " + f.String() + " " + verb + by, ""
		}
		it := &items[j]
		return "File " + f.String() + " shared by " + bold(n.name(it.ev.Actor)) + " (" + utc(it.ev.At).String() + ") " + verb + by, n.text(it.text)
	}
	if !ok || ev.TS == "" {
		return "Message " + verb + by + " (the message was not captured)", ""
	}
	it := &items[j]
	s := "Message from " + bold(n.name(it.ev.Actor)) + " (" + utc(it.ev.At).String() + ") " + verb + by
	if it.deleted != nil {
		s += " (since deleted)"
	}
	return s, n.text(it.text)
}

// describe says what a recorded (not captured) event means: a one-line
// markdown summary and the user text that goes with it.
func describe(ev *incidentbot.TimelineEvent, inc *incidentbot.Incident, n names) (string, Text) {
	by := ""
	if ev.Actor != "" {
		by = " by " + bold(n.name(ev.Actor))
	}
	txt := n.text(ev.Text)
	switch ev.Kind {
	case incidentbot.EventOpened:
		s := "**Incident opened**" + by
		if ev.To != "" {
			s += " as " + EscapeMarkdown(ev.To)
		}
		return s, txt
	case incidentbot.EventChannel:
		return "Channel **#" + EscapeMarkdown(strings.TrimPrefix(ev.Text, "#")) + "** created", ""
	case incidentbot.EventStatus:
		s := "Status update" + by
		if ev.To != "" {
			s += " (" + bold(Text(ev.To)) + ")"
		}
		return s, txt
	case incidentbot.EventSeverity:
		s := "Severity changed" + by + ": "
		if ev.From != "" {
			s += EscapeMarkdown(ev.From) + " → "
		}
		return s + bold(Text(ev.To)), txt
	case incidentbot.EventRole:
		role := incidentbot.Role(ev.Ref).Title()
		var s string
		if ev.To == "" {
			s = EscapeMarkdown(role) + " unassigned" + by
		} else {
			s = bold(n.name(ev.To)) + " assigned as " + EscapeMarkdown(role) + by
		}
		if ev.From != "" {
			s += " (previously " + bold(n.name(ev.From)) + ")"
		}
		return s, txt
	case incidentbot.EventHypothesis:
		return "Hypothesis " + bold(Text(ev.Ref)) + " proposed" + by, txt
	case incidentbot.EventHypConfirmed:
		return "Hypothesis " + bold(Text(ev.Ref)) + " **confirmed**" + by, txt
	case incidentbot.EventHypRejected:
		return "Hypothesis " + bold(Text(ev.Ref)) + " **rejected**" + by, txt
	case incidentbot.EventAction:
		return "Action item " + bold(Text(ev.Ref)) + " added" + by, txt
	case incidentbot.EventActionDone:
		return "Action item " + bold(Text(ev.Ref)) + " done" + by + via(ev), txt
	case incidentbot.EventActionOwner:
		from, to := "no owner", "no owner"
		if ev.From != "" {
			from = bold(n.name(ev.From))
		}
		if ev.To != "" {
			to = bold(n.name(ev.To))
		}
		return "Action item " + bold(Text(ev.Ref)) + " owner changed" + by + ": " + from + " → " + to, txt
	case incidentbot.EventActionDue:
		from, to := "no due date", "no due date"
		if ev.From != "" {
			from = EscapeMarkdown(ev.From)
		}
		if ev.To != "" {
			to = bold(Text(ev.To))
		}
		return "Action item " + bold(Text(ev.Ref)) + " due date changed" + by + ": " + from + " → " + to, txt
	case incidentbot.EventActionReopen:
		return "Action item " + bold(Text(ev.Ref)) + " **reopened**" + by + via(ev), txt
	case incidentbot.EventReview:
		return "Follow-up review posted in the channel", txt
	case incidentbot.EventImpactStarted:
		s := "Impact start recorded" + by
		if ev.To != "" {
			s += ": " + EscapeMarkdown(ev.To)
		}
		return s, txt
	case incidentbot.EventResolved:
		return "**Incident resolved**" + by, txt
	case incidentbot.EventReminder:
		return "**Missed status update** (reminder sent)", txt
	case incidentbot.EventSnoozed:
		s := "Status-update reminders snoozed" + by
		if ev.To != "" {
			s += " until " + EscapeMarkdown(ev.To)
		}
		return s, txt
	case incidentbot.EventPage:
		return "PagerDuty page sent" + by, txt
	case incidentbot.EventPageResolved:
		return "PagerDuty alert resolved" + by, txt
	case incidentbot.EventOnCall:
		if ev.To != "" {
			return "On-call " + bold(n.name(ev.To)) + " brought in", txt
		}
		return "On-call brought in", txt
	case incidentbot.EventPostmortem:
		return "Post-mortem draft posted" + by, txt
	case incidentbot.EventNotice:
		return "Notice from incidentbot", txt
	case incidentbot.EventTimelineAdded:
		s := "Message from " + bold(n.name(ev.Actor))
		if ev.Actor == "" {
			s = "Message"
		}
		s += " in another channel added to the timeline"
		if ev.From != "" {
			s += " by " + bold(n.name(ev.From))
		}
		if link := messageLink(ev.Ref); link != "" {
			s += " (" + link + ")"
		}
		return s, txt
	case incidentbot.EventPinned, incidentbot.EventKeyMarked:
		return "", txt // described by describeMarked
	case incidentbot.EventChannelArchived:
		return "**Channel archived**" + by, ""
	case incidentbot.EventChannelUnarchived:
		return "**Channel unarchived**" + by, ""
	case incidentbot.EventChannelDeleted:
		return "**Channel deleted**" + by, ""
	case incidentbot.EventChannelGone:
		return "incidentbot **could not use the channel** (Slack: " + EscapeMarkdown(ev.Text) + "); reminders paused", ""
	case incidentbot.EventChannelBack:
		return "incidentbot **could use the channel again**" + by + "; reminders resumed", ""
	case incidentbot.EventChannelRefused:
		return "Slack **refused to create the channel** (" + EscapeMarkdown(ev.Text) + ")", ""
	}
	return EscapeMarkdown(string(ev.Kind)) + by, txt
}

// bold returns the name escaped and in bold.
// via is " in GitHub by @octocat" for an action item closed or reopened
// in the tracker (From the tracker, To who did it there), else "".
func via(ev *incidentbot.TimelineEvent) string {
	if ev.From == "" {
		return ""
	}
	s := " in " + EscapeMarkdown(ev.From)
	if ev.To != "" {
		s += " by " + bold(Text(ev.To))
	}
	return s
}

func bold(t Text) string { return "**" + t.String() + "**" }

// renderLog renders the message log: entries in time order, thread replies
// nested under their parent. The markdown of all entries is written into one
// buffer, which the entries then share, to keep 100,000 events cheap.
func renderLog(items []logItem, itemOrder []int, inc *incidentbot.Incident, n names) []LogEntry {
	log := make([]LogEntry, 0, len(items))
	w := &logWriter{seps: [2]string{lineJoiner(2), lineJoiner(4)}, inc: inc, n: n}
	w.b.Grow(logSizeHint(items))
	ends := make([]int, 0, len(items))
	emit := func(i, depth int) {
		it := &items[i]
		e := LogEntry{At: utc(it.ev.At), Kind: string(it.ev.Kind), Depth: depth, Author: n.nameOrEmpty(it.ev.Actor)}
		w.entry(&e, it)
		log = append(log, e)
		ends = append(ends, w.b.Len())
	}
	for _, i := range itemOrder {
		if items[i].parent >= 0 {
			continue
		}
		emit(i, 0)
		for _, r := range items[i].replies {
			emit(r, 1)
		}
	}
	s := w.b.String()
	start := 0
	for i := range log {
		log[i].Markdown = s[start:ends[i]]
		start = ends[i]
	}
	return log
}

// logSizeHint estimates the bytes of the rendered log, a little over, so
// that its buffer is allocated once.
func logSizeHint(items []logItem) int {
	n := 0
	for i := range items {
		it := &items[i]
		n += 80 + len(it.text) + len(it.ev.Text)
		for _, note := range it.notes {
			n += 80 + len(note.PrevText)
		}
		for _, f := range it.files {
			n += 16 + len(f.Name) + len(f.URL)
		}
	}
	return n + n/8
}

// logWriter writes message log entries into one buffer.
type logWriter struct {
	b    strings.Builder
	tbuf []byte    // scratch for formatting times without allocating
	seps [2]string // line joiners inside an entry at depth 0 and 1
	inc  *incidentbot.Incident
	n    names
}

// time writes t as TimeLayout, or "unknown".
func (w *logWriter) time(t time.Time) {
	if t.IsZero() {
		w.b.WriteString("unknown")
		return
	}
	w.tbuf = t.UTC().AppendFormat(w.tbuf[:0], TimeLayout)
	w.b.Write(w.tbuf)
}

// bold writes a name escaped and in bold, as bold does.
func (w *logWriter) bold(t Text) {
	w.b.WriteString("**")
	writeEscaped(&w.b, string(t), "<br>")
	w.b.WriteString("**")
}

// by finishes an annotation with who did it and when.
func (w *logWriter) by(ev *incidentbot.TimelineEvent) {
	if ev.Actor != "" {
		w.b.WriteString(" by ")
		w.bold(w.n.name(ev.Actor))
	}
	w.b.WriteByte(' ')
	w.time(ev.At)
	w.b.WriteByte(')')
}

// entry writes one entry as a list item and fills e's Text, Edited and
// Deleted.
func (w *logWriter) entry(e *LogEntry, it *logItem) {
	b, n, sep := &w.b, w.n, w.seps[min(e.Depth, 1)]
	b.WriteString("  "[:2*min(e.Depth, 1)])
	b.WriteString("- ")
	w.time(it.ev.At)
	b.WriteByte(' ')
	ev := it.ev
	if !isMessage(ev) {
		summary, txt := describe(ev, w.inc, n)
		if summary == "" { // a pin or mark of a message that was not captured
			summary, _ = describeMarked(ev, w.inc, nil, nil, n)
		}
		b.WriteString(summary)
		if txt != "" {
			b.WriteString(": ")
			writeEscaped(b, string(txt), sep)
		}
		e.Text = txt
		b.WriteByte('\n')
		return
	}
	author := e.Author
	if author == "" {
		author = "unknown"
	}
	w.bold(author)
	b.WriteByte(':')
	e.Text = n.text(it.text)
	if it.deleted != nil {
		e.Deleted = true
		b.WriteString(" (deleted ")
		w.time(it.deleted.At)
		if e.Text == "" {
			b.WriteString("; its text is unknown")
		}
		b.WriteByte(')')
	}
	if e.Text != "" {
		b.WriteByte(' ')
		writeEscaped(b, string(e.Text), sep)
	}
	if isReply(ev) && it.parent < 0 {
		b.WriteString(sep)
		b.WriteString("(a thread reply; the thread's first message was not captured)")
	}
	if len(it.files) > 0 {
		b.WriteString(sep)
		b.WriteString("files: ")
		for i, f := range it.files {
			if i > 0 {
				b.WriteString(", ")
			}
			writeFileLink(b, f)
		}
	}
	edits := 0
	for _, note := range it.notes {
		b.WriteString(sep)
		switch note.Kind {
		case incidentbot.EventEdited:
			e.Edited = true
			edits++
			b.WriteString("(edited ")
			w.time(note.At)
			if note.PrevText != "" {
				if edits == 1 {
					b.WriteString("; originally: ")
				} else {
					b.WriteString("; previously: ")
				}
				writeEscaped(b, string(n.text(note.PrevText)), sep)
			}
			b.WriteByte(')')
		case incidentbot.EventPinned:
			b.WriteString("(pinned")
			w.by(note)
		case incidentbot.EventKeyMarked:
			if len(note.Files) > 0 {
				b.WriteString("(file ")
				writeFileLink(b, note.Files[0])
				b.WriteString(" marked as a key event :pushpin:")
			} else {
				b.WriteString("(marked as a key event :pushpin:")
			}
			w.by(note)
		}
	}
	b.WriteByte('\n')
}

// writeFileLink writes a shared file as a markdown link, or as its name
// alone when it has no http(s) link.
func writeFileLink(b *strings.Builder, f incidentbot.File) {
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = "file"
	}
	u := strings.TrimSpace(f.URL)
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		writeEscaped(b, name, " ")
		if u == "" {
			b.WriteString(" (no link)")
		} else {
			b.WriteString(" (link not shown: not http)")
		}
		return
	}
	b.WriteByte('[')
	writeEscaped(b, name, " ")
	b.WriteString("](")
	writeURL(b, u)
	b.WriteByte(')')
}

// messageLink is a markdown link to a Slack message's permalink, or ""
// when it is not an http(s) link.
func messageLink(u string) string {
	u = strings.TrimSpace(u)
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return ""
	}
	var b strings.Builder
	b.WriteString("[message](")
	writeURL(&b, u)
	b.WriteByte(')')
	return b.String()
}

// writeURL writes u as a link destination that cannot end the link early or
// inject anything: bytes outside a conservative set are percent-encoded, and
// "&" is written as an entity (a destination decodes entities).
func writeURL(b *strings.Builder, u string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~:/?#[]@!$'*+,;=%", c) >= 0:
			b.WriteByte(c)
		case c == '&':
			b.WriteString("&amp;")
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}
