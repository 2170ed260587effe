package main

import (
	"context"
	"errors"
)

// export and list arrive with the post-mortem work (issue 4).
func (m *Main) export(ctx context.Context) error { return errors.New("export: not built yet") }
func (m *Main) list(ctx context.Context) error   { return errors.New("list: not built yet") }
