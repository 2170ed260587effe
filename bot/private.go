package bot

import (
	"github.com/slack-go/slack"
)

// The declare form's Private checkbox: checked, the incident is opened as
// with `/incident open --private` (commands.OpenRequest.Private).
const (
	blockPrivate  = "private"
	optionPrivate = "private"
)

// privateInput is the declare form's optional Private checkbox.
func privateInput() *slack.InputBlock {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	opt := slack.NewOptionBlockObject(optionPrivate, text("Private incident"),
		text("Private channel, never announced: for security and HR incidents"))
	box := slack.NewCheckboxGroupsBlockElement(blockPrivate, opt)
	in := slack.NewInputBlock(blockPrivate, text("Private"), nil, box)
	in.Optional = true
	return in
}

// privateChecked reports whether the submitted declare form has Private
// checked.
func privateChecked(vals map[string]map[string]slack.BlockAction) bool {
	for _, o := range vals[blockPrivate][blockPrivate].SelectedOptions {
		if o.Value == optionPrivate {
			return true
		}
	}
	return false
}
