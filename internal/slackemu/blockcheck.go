package slackemu

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// inputElements are the element types an input block may hold.
var inputElements = []string{
	"plain_text_input", "number_input", "email_text_input", "url_text_input", "rich_text_input",
	"checkboxes", "radio_buttons", "datepicker", "timepicker", "datetimepicker", "file_input",
	"static_select", "external_select", "users_select", "conversations_select", "channels_select",
	"multi_static_select", "multi_external_select", "multi_users_select", "multi_conversations_select", "multi_channels_select",
}

// actionElements are the element types an actions block (or a section's
// accessory, with image and the like) may hold.
var actionElements = []string{
	"button", "checkboxes", "radio_buttons", "datepicker", "timepicker", "datetimepicker", "overflow", "workflow_button",
	"static_select", "external_select", "users_select", "conversations_select", "channels_select",
	"multi_static_select", "multi_external_select", "multi_users_select", "multi_conversations_select", "multi_channels_select",
	"plain_text_input", "rich_text_input",
}

// checkActionsBlock checks an actions block: 1 to 25 interactive elements
// with action_ids unique in the block.
func checkActionsBlock(raw json.RawMessage, at string) string {
	var els []map[string]json.RawMessage
	if json.Unmarshal(raw, &els) != nil || len(els) == 0 || len(els) > 25 {
		return "[ERROR] must have between 1 and 25 elements [json-pointer:" + at + "/elements]"
	}
	seen := map[string]bool{}
	for j, el := range els {
		eat := fmt.Sprintf("%s/elements/%d", at, j)
		if msg := checkElement(el, actionElements, eat); msg != "" {
			return msg
		}
		var id string
		_ = json.Unmarshal(el["action_id"], &id)
		if id != "" && seen[id] {
			return "[ERROR] duplicate action_id [json-pointer:" + eat + "/action_id]"
		}
		seen[id] = true
	}
	return ""
}

// checkAccessory checks a section's accessory when it is interactive.
func checkAccessory(raw json.RawMessage, at string) string {
	if len(raw) == 0 {
		return ""
	}
	var el map[string]json.RawMessage
	if json.Unmarshal(raw, &el) != nil {
		return "[ERROR] must be an element [json-pointer:" + at + "]"
	}
	var typ string
	_ = json.Unmarshal(el["type"], &typ)
	if typ == "image" {
		return ""
	}
	return checkElement(el, actionElements, at)
}

// checkElement checks one block element: its type is one of allowed, its
// action_id at most 255 characters, and its own fields (button text, value
// and style; select and checkbox options; date formats; input lengths).
func checkElement(el map[string]json.RawMessage, allowed []string, at string) string {
	var typ, actionID string
	_ = json.Unmarshal(el["type"], &typ)
	if typ == "" {
		return "[ERROR] missing required field: type [json-pointer:" + at + "]"
	}
	if !slices.Contains(allowed, typ) {
		return "[ERROR] failed to match all allowed schemas [json-pointer:" + at + "/type]"
	}
	_ = json.Unmarshal(el["action_id"], &actionID)
	if len(actionID) > 255 {
		return "[ERROR] must be less than 256 characters [json-pointer:" + at + "/action_id]"
	}
	str := func(k string) string { var v string; _ = json.Unmarshal(el[k], &v); return v }
	switch typ {
	case "button":
		if len(el["text"]) == 0 {
			return "[ERROR] missing required field: text [json-pointer:" + at + "]"
		}
		if msg := checkTextObject(el["text"], 75, true, at+"/text"); msg != "" {
			return msg
		}
		if utf8.RuneCountInString(str("value")) > 2000 {
			return "[ERROR] must be less than 2001 characters [json-pointer:" + at + "/value]"
		}
		if len(str("url")) > 3000 {
			return "[ERROR] must be less than 3001 characters [json-pointer:" + at + "/url]"
		}
		if st, ok := el["style"]; ok {
			var style string
			_ = json.Unmarshal(st, &style)
			if style != "primary" && style != "danger" {
				return "[ERROR] must be one of the following: primary, danger [json-pointer:" + at + "/style]"
			}
		}
	case "static_select", "multi_static_select", "checkboxes", "radio_buttons", "overflow":
		var opts, groups []json.RawMessage
		_ = json.Unmarshal(el["options"], &opts)
		_ = json.Unmarshal(el["option_groups"], &groups)
		max := map[string]int{"checkboxes": 10, "radio_buttons": 10, "overflow": 5}[typ]
		if max == 0 {
			max = 100
		}
		if len(groups) > 0 && (typ == "static_select" || typ == "multi_static_select") {
			for g, raw := range groups {
				var grp struct{ Options []json.RawMessage }
				_ = json.Unmarshal(raw, &grp)
				if msg := checkOptions(grp.Options, max, typ, fmt.Sprintf("%s/option_groups/%d/options", at, g)); msg != "" {
					return msg
				}
			}
			break
		}
		if msg := checkOptions(opts, max, typ, at+"/options"); msg != "" {
			return msg
		}
	case "datepicker":
		if d := str("initial_date"); d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return "[ERROR] must match the format YYYY-MM-DD [json-pointer:" + at + "/initial_date]"
			}
		}
	case "plain_text_input":
		var minLen, maxLen int
		_ = json.Unmarshal(el["min_length"], &minLen)
		_ = json.Unmarshal(el["max_length"], &maxLen)
		if minLen < 0 || minLen > 3000 {
			return "[ERROR] must be between 0 and 3000 [json-pointer:" + at + "/min_length]"
		}
		if len(el["max_length"]) > 0 && (maxLen < 1 || maxLen > 3000 || maxLen < minLen) {
			return "[ERROR] must be between 1 and 3000 and no less than min_length [json-pointer:" + at + "/max_length]"
		}
	}
	return ""
}

// checkOptions checks an element's options: 1 to max, each with a text
// object (plain_text, or mrkdwn for checkboxes and radio buttons) and a
// value of at most 150 characters.
func checkOptions(opts []json.RawMessage, max int, typ, at string) string {
	if len(opts) == 0 || len(opts) > max {
		return fmt.Sprintf("[ERROR] must have between 1 and %d items [json-pointer:%s]", max, at)
	}
	plainOnly := typ != "checkboxes" && typ != "radio_buttons"
	for k, raw := range opts {
		oat := fmt.Sprintf("%s/%d", at, k)
		var o map[string]json.RawMessage
		if json.Unmarshal(raw, &o) != nil {
			return "[ERROR] must be an option object [json-pointer:" + oat + "]"
		}
		if len(o["text"]) == 0 {
			return "[ERROR] missing required field: text [json-pointer:" + oat + "]"
		}
		if msg := checkTextObject(o["text"], 75, plainOnly, oat+"/text"); msg != "" {
			return msg
		}
		var v string
		_ = json.Unmarshal(o["value"], &v)
		if v == "" {
			return "[ERROR] missing required field: value [json-pointer:" + oat + "]"
		}
		if utf8.RuneCountInString(v) > 150 {
			return "[ERROR] must be less than 151 characters [json-pointer:" + oat + "/value]"
		}
	}
	return ""
}
