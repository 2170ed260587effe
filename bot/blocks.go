package bot

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot/commands"
)

// maxSectionText is the most characters a section block's text may hold.
const maxSectionText = 3000

// messageBlocks renders a commands.Message as Block Kit: its text in
// section blocks (split at line ends to fit Slack's 3000 characters a
// section), then its buttons in one actions block.
func messageBlocks(m commands.Message) []slack.Block {
	var blocks []slack.Block
	for _, part := range splitText(m.Text, maxSectionText) {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
	}
	if len(m.Buttons) == 0 {
		return blocks
	}
	var els []slack.BlockElement
	for _, b := range m.Buttons {
		btn := slack.NewButtonBlockElement(b.ActionID, b.Value, slack.NewTextBlockObject(slack.PlainTextType, b.Label, true, false))
		if b.Style != "" {
			btn.Style = slack.Style(b.Style)
		}
		els = append(els, btn)
	}
	return append(blocks, slack.NewActionBlock("header_actions", els...))
}

// splitText cuts s into parts of at most max characters, at line ends
// where it can.
func splitText(s string, max int) []string {
	var parts []string
	for utf8.RuneCountInString(s) > max {
		cut, n := len(s), 0
		for i := range s {
			if n == max {
				cut = i
				break
			}
			n++
		}
		if nl := strings.LastIndexByte(s[:cut], '\n'); nl > 0 {
			cut = nl + 1
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	if strings.TrimSpace(s) != "" || len(parts) == 0 {
		parts = append(parts, s)
	}
	return parts
}

var _ commands.Messenger = (*slackAPI)(nil)

// PostMessage posts m as Block Kit with its text as the fallback.
func (s *slackAPI) PostMessage(ctx context.Context, channelID string, m commands.Message) (string, error) {
	if err := s.pace(ctx, "chat.postMessage", channelID); err != nil {
		return "", err
	}
	_, ts, err := s.client(ctx).PostMessageContext(ctx, channelID, slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(messageBlocks(m)...))
	if err != nil {
		return "", s.chanErr("chat.postMessage", channelID, err)
	}
	return ts, nil
}

// UpdateMessage replaces a message's text and blocks with m's.
func (s *slackAPI) UpdateMessage(ctx context.Context, channelID, ts string, m commands.Message) error {
	if err := s.pace(ctx, "chat.update", channelID); err != nil {
		return err
	}
	if _, _, _, err := s.client(ctx).UpdateMessageContext(ctx, channelID, ts, slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(messageBlocks(m)...)); err != nil {
		return s.chanErr("chat.update", channelID, err)
	}
	return nil
}
