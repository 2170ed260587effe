package slackemu

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is an uploaded or shared file, with its bytes.
type File struct {
	ID       string
	Name     string
	Title    string
	User     string
	Mimetype string
	Filetype string
	Size     int
	Content  []byte
	Channels []string // where it was shared
	// Reactions maps each reaction added to the file itself (AddFileReaction)
	// to the users who added it.
	Reactions map[string][]string
}

type file struct {
	id, name, title, user string
	length                int // announced by files.getUploadURLExternal
	content               []byte
	uploaded, completed   bool
	created               time.Time
	channels              []string
	reactions             []*reaction // on the file itself
}

func (f *file) export() File {
	mt, ft, _ := fileTypes(f.name)
	out := File{
		ID:       f.id,
		Name:     f.name,
		Title:    f.title,
		User:     f.user,
		Mimetype: mt,
		Filetype: ft,
		Size:     len(f.content),
		Content:  slices.Clone(f.content),
		Channels: slices.Clone(f.channels),
	}
	if len(f.reactions) > 0 {
		out.Reactions = map[string][]string{}
		for _, r := range f.reactions {
			out.Reactions[r.name] = slices.Clone(r.users)
		}
	}
	return out
}

// File returns the file with that id, including its uploaded bytes.
func (s *Server) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		return File{}, false
	}
	return f.export(), true
}

// Files returns every file that was completed (shared or uploaded and
// completed), oldest first.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, id := range s.fileOrder {
		if f := s.files[id]; f.completed {
			out = append(out, f.export())
		}
	}
	return out
}

// fileTypes returns the mimetype, Slack filetype and pretty type of a file
// name.
func fileTypes(name string) (mimetype, filetype, pretty string) {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	switch ext {
	case "md", "markdown":
		return "text/markdown", "markdown", "Markdown (raw)"
	case "txt", "":
		return "text/plain", "text", "Plain Text"
	case "json":
		return "application/json", "json", "JSON"
	}
	mt := mime.TypeByExtension("." + ext)
	if mt == "" {
		mt = "application/octet-stream"
	}
	if i := strings.Index(mt, ";"); i >= 0 {
		mt = mt[:i]
	}
	return mt, ext, strings.ToUpper(ext)
}

// fileJSON is Slack's file object.
func (s *Server) fileJSON(f *file) obj {
	mt, ft, pretty := fileTypes(f.name)
	esc := url.PathEscape(f.name)
	o := obj{
		"id":                   f.id,
		"created":              f.created.Unix(),
		"timestamp":            f.created.Unix(),
		"name":                 f.name,
		"title":                f.title,
		"mimetype":             mt,
		"filetype":             ft,
		"pretty_type":          pretty,
		"user":                 f.user,
		"user_team":            s.cfg.TeamID,
		"editable":             false,
		"size":                 len(f.content),
		"mode":                 "hosted",
		"is_external":          false,
		"external_type":        "",
		"is_public":            len(f.channels) > 0,
		"public_url_shared":    false,
		"display_as_bot":       false,
		"username":             "",
		"url_private":          s.base + "/files-pri/" + s.cfg.TeamID + "-" + f.id + "/" + esc,
		"url_private_download": s.base + "/files-pri/" + s.cfg.TeamID + "-" + f.id + "/download/" + esc,
		"permalink":            "https://" + s.cfg.TeamDomain + ".slack.com/files/" + f.user + "/" + f.id + "/" + esc,
		"permalink_public":     "https://slack-files.com/" + s.cfg.TeamID + "-" + f.id + "-" + randHex(5),
		"has_rich_preview":     false,
		"file_access":          "visible",
	}
	if len(f.reactions) > 0 {
		rs := make([]obj, 0, len(f.reactions))
		for _, r := range f.reactions {
			rs = append(rs, obj{"name": r.name, "users": slices.Clone(r.users), "count": len(r.users)})
		}
		o["reactions"] = rs
	}
	return o
}

// apiFilesGetUploadURLExternal answers files.getUploadURLExternal with an
// upload URL on this server.
func (s *Server) apiFilesGetUploadURLExternal(req *apiRequest) (obj, *apiError) {
	name := req.params.Get("filename")
	length, err := strconv.Atoi(req.params.Get("length"))
	if name == "" || err != nil || length <= 0 {
		return nil, errCode("invalid_arguments")
	}
	if length > 1<<30 {
		return nil, errCode("file_size_too_large")
	}
	f := &file{id: s.newIDLocked("F"), name: name, title: name, user: s.botUser, length: length, created: time.Now()}
	s.files[f.id] = f
	s.fileOrder = append(s.fileOrder, f.id)
	key := randHex(16)
	s.uploads[key] = f.id
	return obj{"upload_url": s.base + "/upload/v1/" + key, "file_id": f.id}, nil
}

// serveUpload receives the bytes of a file, as a multipart form (field
// "file") or as the raw body, and answers "OK - <size>" like Slack's upload
// host.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	req := &apiRequest{method: "upload", params: url.Values{}}
	if _, ok := s.takeFault("upload"); ok {
		http.Error(w, "upload failed", http.StatusInternalServerError)
		s.record(req, http.StatusInternalServerError, "internal_error")
		return
	}
	s.mu.Lock()
	id, ok := s.uploads[r.PathValue("key")]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		s.record(req, http.StatusNotFound, "not_found")
		return
	}
	var data []byte
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		data, err = readMultipartFile(r)
	} else {
		data, err = io.ReadAll(io.LimitReader(r.Body, 1<<30))
	}
	req.params.Set("file_id", id)
	if err != nil {
		http.Error(w, "bad upload", http.StatusBadRequest)
		s.record(req, http.StatusBadRequest, "invalid_upload")
		return
	}
	s.mu.Lock()
	f := s.files[id]
	f.content, f.uploaded = data, true
	req.params.Set("filename", f.name)
	s.mu.Unlock()
	req.params.Set("length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
	s.record(req, http.StatusOK, "")
}

// readMultipartFile returns the content of the "file" part of a multipart
// request (or of its first file part).
func readMultipartFile(r *http.Request) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	var first []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(p, 1<<30))
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return b, nil
		}
		if p.FileName() != "" && first == nil {
			first = b
		}
	}
	if first == nil {
		return nil, fmt.Errorf("no file part")
	}
	return first, nil
}

// apiFilesCompleteUploadExternal answers files.completeUploadExternal: the
// uploaded files are shared as one file_share message in channel_id (or each
// of channels), in the thread of thread_ts when given.
func (s *Server) apiFilesCompleteUploadExternal(req *apiRequest) (obj, *apiError) {
	var summaries []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(req.params.Get("files")), &summaries); err != nil || len(summaries) == 0 {
		return nil, errCode("invalid_arguments")
	}
	var fs []*file
	for _, sum := range summaries {
		f, ok := s.files[sum.ID]
		if !ok || !f.uploaded || f.completed {
			return nil, errCode("file_not_found")
		}
		fs = append(fs, f)
	}
	var targets []*channel
	ids := []string{}
	if id := req.params.Get("channel_id"); id != "" {
		ids = append(ids, id)
	}
	for id := range strings.SplitSeq(req.params.Get("channels"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		c, aerr := s.lookupChannelLocked(id)
		if aerr != nil {
			return nil, aerr
		}
		if c.archived {
			return nil, errCode("is_archived")
		}
		if !c.isMember(s.botUser) {
			return nil, errCode("not_in_channel")
		}
		targets = append(targets, c)
	}
	out := make([]obj, 0, len(fs))
	for i, f := range fs {
		if summaries[i].Title != "" {
			f.title = summaries[i].Title
		}
		f.completed = true
	}
	for _, c := range targets {
		m := &message{
			ts:      s.nextTSLocked(),
			user:    s.botUser,
			botID:   s.botID,
			text:    req.params.Get("initial_comment"),
			subtype: "file_share",
		}
		for _, f := range fs {
			m.files = append(m.files, f.id)
			f.channels = append(f.channels, c.id)
		}
		if tts := req.params.Get("thread_ts"); tts != "" {
			m.threadTS = s.threadRootLocked(c, tts)
		}
		s.addMessageLocked(c, m)
		s.emitMessageLocked(c, m)
	}
	for _, f := range fs {
		out = append(out, s.fileJSON(f))
	}
	return obj{"files": out}, nil
}

// ShareFile shares a file named name, with an optional comment, as user in
// channel (the user drags a file into the message box) and emits a message
// event of subtype file_share with files[]. It returns the message ts.
func (s *Server) ShareFile(user, channel, name, comment string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.authorChannelLocked("ShareFile", user, channel)
	f := &file{
		id:        s.newIDLocked("F"),
		name:      name,
		title:     name,
		user:      user,
		content:   []byte{},
		uploaded:  true,
		completed: true,
		created:   time.Now(),
		channels:  []string{c.id},
	}
	s.files[f.id] = f
	s.fileOrder = append(s.fileOrder, f.id)
	m := s.userMessageLocked(user, comment)
	if comment == "" {
		m.blocks = nil
	}
	m.subtype = "file_share"
	m.files = []string{f.id}
	s.addMessageLocked(c, m)
	s.emitMessageLocked(c, m)
	return m.ts
}

// serveFileDownload serves url_private and url_private_download to a client
// that presents the bot token, as files.slack.com does.
func (s *Server) serveFileDownload(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok != s.cfg.BotToken || s.tokenError("bot") != "" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	id, ok := strings.CutPrefix(r.PathValue("key"), s.cfg.TeamID+"-")
	s.mu.Lock()
	f := s.files[id]
	var data []byte
	var name string
	if f != nil {
		data, name = slices.Clone(f.content), f.name
	}
	s.mu.Unlock()
	if !ok || f == nil {
		http.NotFound(w, r)
		return
	}
	mt, _, _ := fileTypes(name)
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}
