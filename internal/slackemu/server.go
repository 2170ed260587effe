package slackemu

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentbot/incidentbot/internal/cork"
)

// Config configures a Server. The zero value is usable: every empty field takes
// the default named in its comment.
type Config struct {
	TeamID     string // workspace id; default "T0001"
	TeamDomain string // workspace domain (https://DOMAIN.slack.com); default "emulator"
	AppID      string // app id; default "A0001"
	BotToken   string // bot token accepted by Web API methods; default "xoxb-emulator"
	AppToken   string // app-level token accepted by apps.connections.open; default "xapp-emulator"
	BotName    string // bot user name; default "incidentbot"
	Command    string // slash command sent by SlashCommand; default "/incident"

	// AckTimeout is how long an events_api envelope may stay unacknowledged
	// before it is redelivered (as Slack does: same payload and event_id, new
	// envelope_id, retry_attempt+1, retry_reason "timeout", at most 3 retries).
	// Zero means the default of 3 s; a negative value disables redelivery.
	AckTimeout time.Duration

	// MaxConnections is how many Socket Mode connections the app may have
	// open at once. One more is sent {"type":"disconnect",
	// "reason":"too_many_websockets"} and closed, as Slack does past its
	// limit of 10. Zero means 10.
	MaxConnections int

	// PingInterval is how often each socket gets a WebSocket PING control
	// frame. Zero means the default of 5 s.
	PingInterval time.Duration

	// TriggerTTL is how long a trigger_id may be used for views.open after
	// the interaction that carried it. Zero means Slack's 3 s; a negative
	// value means trigger ids never expire (they are still valid only once).
	TriggerTTL time.Duration

	// MemberJoinedEvents, when set, emits member_joined_channel events when
	// users join or are invited to channels the bot is in, and
	// member_left_channel events when they leave (LeaveChannel), as Slack
	// does for apps subscribed to those events (channel_type "C" for a
	// public channel, "G" for a private one).
	MemberJoinedEvents bool

	// MessageShortcuts are the callback ids of the message shortcuts the
	// app's manifest declares (features.shortcuts of type message).
	// MessageShortcut refuses any other, as the Slack client offers only
	// those.
	MessageShortcuts []string

	// Logf, when set, receives one line per Web API call, socket connection
	// and envelope. It never receives tokens or message text.
	Logf func(format string, args ...any)
}

// verificationToken is the deprecated verification token that Slack still puts
// in event, command and interaction payloads. It is not a credential.
const verificationToken = "emulatorverificationtoken"

// slackAckDeadline is how long Slack waits for the acknowledgement of a slash
// command or interaction before it tells the user the app did not respond.
const slackAckDeadline = 3 * time.Second

// maxRetries is how many times Slack redelivers an unacknowledged event.
const maxRetries = 3

// Server is a running Slack emulator. All methods are safe for concurrent use.
type Server struct {
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	base string // http://127.0.0.1:PORT
	done chan struct{}
	wg   sync.WaitGroup

	// loseEvents drops new events instead of delivering them; lost counts them.
	loseEvents bool
	lost       int
	closed     atomic.Bool

	mu      sync.Mutex
	cond    *sync.Cond // signalled when the envelope queue or a socket changes
	seq     int
	lastTS  int64 // microseconds of the last message ts handed out
	botUser string
	botID   string

	mentionRE *regexp.Regexp

	users     map[string]*user
	userOrder []string
	channels  map[string]*channel
	chanOrder []string
	ims       map[string]string // user id → IM channel id
	files     map[string]*file
	fileOrder []string
	uploads   map[string]string // upload key → file id

	views        map[string]*view // modal views
	viewOrder    []string
	homes        map[string]*view  // Home tabs by user id
	externalIDs  map[string]string // view external_id → view id
	triggers     map[string]*trigger
	responseURLs map[string]*responseURL
	ephemerals   []*ephemeral
	activity     []Activity

	calls   []Call
	pending map[*apiRequest]time.Time // received, not answered yet: when each came
	faults  map[string][]fault
	latency map[string]time.Duration

	// Hostile-Slack controls (faults.go).
	botTokenErr   string                   // error code every bot-token call answers; "" when the token works
	createRefusal string                   // error code conversations.create answers; "" to create
	nameRule      func(name string) string // extra channel-name refusals
	limits        map[string]*methodLimit  // per-method rate limits
	chanFaults    map[string][]fault       // "method channel" → FailChannel faults
	historyCap    int                      // max (and default) limit of history reads; 0 for none

	tickets      map[string]bool
	refusedConns int // connections refused with too_many_websockets
	conns        map[*wsConn]struct{}
	connSeq      int
	connChanged  chan struct{} // closed and replaced whenever conns changes
	queue        envQueue
	envelopes    map[string]*envelope
	ackOrder     []string
	deliveries   []*delivery
	events       map[string]*delivery // by event id
}

// New starts a Server listening on 127.0.0.1:0 with a workspace that holds only
// the bot user. It fails if it cannot listen.
func New(cfg Config) (*Server, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.TeamID, "T0001")
	def(&cfg.TeamDomain, "emulator")
	def(&cfg.AppID, "A0001")
	def(&cfg.BotToken, "xoxb-emulator")
	def(&cfg.AppToken, "xapp-emulator")
	def(&cfg.BotName, "incidentbot")
	def(&cfg.Command, "/incident")
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 3 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 10
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 5 * time.Second
	}
	if cfg.TriggerTTL == 0 {
		cfg.TriggerTTL = 3 * time.Second
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("slackemu: listen: %w", err)
	}
	s := &Server{
		cfg:          cfg,
		ln:           ln,
		base:         "http://" + ln.Addr().String(),
		done:         make(chan struct{}),
		users:        map[string]*user{},
		channels:     map[string]*channel{},
		ims:          map[string]string{},
		files:        map[string]*file{},
		uploads:      map[string]string{},
		views:        map[string]*view{},
		homes:        map[string]*view{},
		externalIDs:  map[string]string{},
		triggers:     map[string]*trigger{},
		responseURLs: map[string]*responseURL{},
		pending:      map[*apiRequest]time.Time{},
		faults:       map[string][]fault{},
		latency:      map[string]time.Duration{},
		limits:       map[string]*methodLimit{},
		tickets:      map[string]bool{},
		conns:        map[*wsConn]struct{}{},
		connChanged:  make(chan struct{}),
		envelopes:    map[string]*envelope{},
		events:       map[string]*delivery{},
	}
	s.cond = sync.NewCond(&s.mu)
	s.mentionRE = regexp.MustCompile(mentionPattern)
	s.botUser = s.newIDLocked("U")
	s.botID = s.newIDLocked("B")
	s.users[s.botUser] = &user{User: User{
		ID:          s.botUser,
		Name:        cfg.BotName,
		RealName:    cfg.BotName,
		DisplayName: cfg.BotName,
		IsBot:       true,
	}, created: time.Now()}
	s.userOrder = append(s.userOrder, s.botUser)

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("GET /link/", s.serveLink)
	mux.HandleFunc("POST /upload/v1/{key}", s.serveUpload)
	mux.HandleFunc("GET /files-pri/{key}/", s.serveFileDownload)
	mux.HandleFunc("POST /commands/{team}/{id}/{secret}", s.serveResponseURL)
	mux.HandleFunc("POST /actions/{team}/{id}/{secret}", s.serveResponseURL)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(cork.Listener{Listener: ln}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("serve: %v", err)
		}
	}()
	return s, nil
}

// URL returns the Web API base URL, ending in "/api/", for
// slack.OptionAPIURL. slack-go appends the method name to it.
func (s *Server) URL() string { return s.base + "/api/" }

// BotUserID returns the user id of the bot user (what auth.test reports).
func (s *Server) BotUserID() string { return s.botUser }

// BotID returns the bot id (B...) that marks the bot's messages.
func (s *Server) BotID() string { return s.botID }

// Config returns the configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Close stops the server: it closes every socket abruptly, stops the HTTP
// listener and waits for the emulator's goroutines. Calls that wait for an
// acknowledgement (SlashCommand, SubmitForm, ClickButton, MessageShortcut,
// OpenAppHome) return an error. Close is
// idempotent; it returns the listener's close error, if any.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	close(s.done)
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, e := range s.envelopes {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
	s.cond.Broadcast()
	s.mu.Unlock()

	for _, c := range conns {
		s.closeConn(c)
	}
	err := s.srv.Close()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("slackemu: close: %w", err)
	}
	return nil
}

// logf logs through Config.Logf until the server is closed (a test's t.Logf
// must not be called after the test ends).
func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf == nil || s.closed.Load() {
		return
	}
	s.cfg.Logf("slackemu: "+format, args...)
}

// newIDLocked returns a new Slack-style id with the given prefix (U, C, D, F, V,
// B). Ids are unique within the server.
func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08X", prefix, s.seq)
}

// nextTSLocked returns a message timestamp ("%d.%06d" from the wall clock)
// strictly greater than every timestamp handed out before.
func (s *Server) nextTSLocked() string {
	now := time.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return formatTS(now)
}

// formatTS formats microseconds since the epoch as a Slack ts.
func formatTS(micros int64) string {
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}

// parseTS parses a Slack timestamp ("1512085950.000216", "1512085950" or
// "1512085950.5") into microseconds since the epoch.
func parseTS(ts string) (int64, bool) {
	ts = strings.TrimSpace(ts)
	if ts == "" {
		return 0, false
	}
	secs, frac, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || sec < 0 {
		return 0, false
	}
	var micro int64
	if frac != "" {
		if len(frac) > 6 {
			frac = frac[:6]
		}
		frac += strings.Repeat("0", 6-len(frac))
		micro, err = strconv.ParseInt(frac, 10, 64)
		if err != nil || micro < 0 {
			return 0, false
		}
	}
	return sec*1e6 + micro, true
}

// randHex returns n random bytes as hex.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random version 4 UUID, the format of Slack's envelope ids.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// obj is a JSON object as sent on the wire.
type obj = map[string]any
