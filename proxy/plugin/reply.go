package plugin

import "encoding/json"

// MessageBody is APISIX's `{message = msg}` answer body, as core.response.exit encodes a table:
// compact JSON and a newline. Plugins build theirs once, at package or compile time.
func MessageBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return append(b, '\n')
}
