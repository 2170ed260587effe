// Package localapi lets `incidentbot export`, `list` and `backup` read the
// database while `incidentbot serve` runs on it.
//
// bbolt holds an exclusive lock on the database file while serve runs, so
// no other process can open it then. Instead serve answers on a unix socket
// beside the database (Path: <db>.sock, mode 0600, so only the user that
// runs the bot, who can read the file anyway, may ask): a small HTTP API in
// which each request is one bbolt read transaction, which never blocks
// serve's writers. When no serve answers there, the command line opens the
// file read-only itself. Both sides are a Reader: Local over an open store,
// Client over the socket, and they give the same bytes.
//
// Failures cross the socket as an incidentbot error code and a user-safe
// message. One table maps codes to HTTP statuses, used by the server
// (code to status) and by the client (status to code), so that a database
// locked or failing (EUnavailable, 503) or a conflict (EConflict, 409) keeps
// its meaning on the other side instead of becoming an internal error.
package localapi
