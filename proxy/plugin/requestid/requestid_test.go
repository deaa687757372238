package requestid

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	def := Conf{Header: "X-Request-Id", IncludeInResponse: true, Algorithm: UUID, Length: 16, CharSet: DefaultCharSet}
	tests := []struct {
		name, conf, err string
		want            Conf
	}{
		{"defaults", `{}`, "", def},
		{"all set", `{"header_name":"X-Trace","include_in_response":false,"algorithm":"range_id","range_id":{"length":8,"char_set":"abcdef"}}`, "",
			Conf{Header: "X-Trace", Algorithm: RangeID, Length: 8, CharSet: "abcdef"}},
		{"range_id defaults", `{"algorithm":"range_id","range_id":{}}`, "", Conf{Header: "X-Request-Id", IncludeInResponse: true, Algorithm: RangeID, Length: 16, CharSet: DefaultCharSet}},
		{"uuidv7", `{"algorithm":"uuidv7"}`, "", Conf{Header: "X-Request-Id", IncludeInResponse: true, Algorithm: UUIDv7, Length: 16, CharSet: DefaultCharSet}},
		{"unknown algorithm", `{"algorithm":"snowflake"}`, `property "algorithm" validation failed: matches none of the enum values`, Conf{}},
		{"header type", `{"header_name":1}`, `property "header_name" validation failed: wrong type: expected string, got number`, Conf{}},
		{"short range", `{"range_id":{"length":5}}`, `property "range_id" validation failed: property "length" validation failed: expected 5 to be at least 6`, Conf{}},
		{"short char_set", `{"range_id":{"char_set":"abc"}}`, `property "range_id" validation failed: property "char_set" validation failed: string too short, expected at least 6, got 3`, Conf{}},
		{"range_id type", `{"range_id":1}`, `property "range_id" validation failed: wrong type: expected object, got number`, Conf{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The header's name as fasthttp writes it, made at compile.
			tt.want.key = fasthttp.AppendNormalizedHeaderKey(nil, tt.want.Header)
			if got := *inst.(*Conf); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	tests := []struct {
		algorithm string
		re        string
	}{
		{UUID, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{UUIDv7, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{NanoID, `^[-_0-9a-zA-Z]{21}$`},
		{RangeID, `^[ab]{6}$`},
		{KSUID, `^[0-9A-Za-z]{27}$`},
	}
	for _, tt := range tests {
		t.Run(tt.algorithm, func(t *testing.T) {
			c := &Conf{Algorithm: tt.algorithm, Length: 6, CharSet: "aaabbb"}
			re := regexp.MustCompile(tt.re)
			seen := map[string]bool{}
			for range 1000 {
				id := string(c.Append(nil))
				if !re.MatchString(id) {
					t.Fatalf("%q does not match %s", id, tt.re)
				}
				seen[id] = true
			}
			if tt.algorithm != RangeID && len(seen) != 1000 {
				t.Errorf("%d distinct ids of 1000", len(seen))
			}
		})
	}
}

func TestUUIDv7Monotonic(t *testing.T) {
	// The state is the process's: start it afresh, and leave it so (the test's clock is fake).
	v7.Store(0)
	t.Cleanup(func() { v7.Store(0) })
	now := time.UnixMilli(1_700_000_000_000)
	prev := ""
	for i := range 1 << 19 { // past the sequence's end within one millisecond
		id := string(appendUUIDv7(nil, now))
		if id <= prev {
			t.Fatalf("id %d %q not after %q", i, id, prev)
		}
		prev = id
	}
	// The timestamp is the first 48 bits.
	v7.Store(0)
	id := string(appendUUIDv7(nil, time.UnixMilli(1_800_000_000_000)))
	if !strings.HasPrefix(id, "01a3185c-5000-7") {
		t.Errorf("%q: wrong timestamp", id)
	}
}

func TestKSUID(t *testing.T) {
	// segmentio/ksuid: the zero payload at the epoch is 27 zeros; a KSUID's first 4 bytes are
	// its timestamp, so ids of later seconds sort after.
	a := string(appendKSUID(nil, time.Unix(ksuidEpoch+100, 0)))
	b := string(appendKSUID(nil, time.Unix(ksuidEpoch+200, 0)))
	if len(a) != 27 || a >= b {
		t.Errorf("%q, %q: want 27 characters, ordered by time", a, b)
	}
}

func TestPhases(t *testing.T) {
	tests := []struct {
		name, conf        string
		reqID, upstreamID string // "" = absent
		wantReq, wantResp string // "*": generated
		wantRespAbsent    bool
	}{
		{"generated", `{}`, "", "", "*", "*", false},
		{"kept", `{}`, "abc", "", "abc", "abc", false},
		{"upstream's wins", `{}`, "abc", "up", "abc", "up", false},
		{"not in response", `{"include_in_response":false}`, "", "", "*", "", true},
		{"custom header", `{"header_name":"X-Trace","algorithm":"nanoid"}`, "", "", "*", "*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := inst.(*Conf)
			var ctx fasthttp.RequestCtx
			if tt.reqID != "" {
				ctx.Request.Header.Set(c.Header, tt.reqID)
			}
			r := &plugin.Request{Ctx: &ctx}
			c.Rewrite(r)
			got := string(ctx.Request.Header.Peek(c.Header))
			if got == "" || (tt.wantReq != "*" && got != tt.wantReq) {
				t.Fatalf("request id %q, want %q", got, tt.wantReq)
			}
			if tt.upstreamID != "" {
				ctx.Response.Header.Set(c.Header, tt.upstreamID)
			}
			c.HeaderFilter(r)
			resp := string(ctx.Response.Header.Peek(c.Header))
			switch {
			case tt.wantRespAbsent && resp != "":
				t.Errorf("response id %q, want none", resp)
			case tt.wantResp == "*" && resp != got:
				t.Errorf("response id %q, want the request's %q", resp, got)
			case tt.wantResp != "*" && !tt.wantRespAbsent && resp != tt.wantResp:
				t.Errorf("response id %q, want %q", resp, tt.wantResp)
			}
		})
	}
}

// TestAppendUUIDLayout: the 16 bytes are written in order as lower-case hex, dashed 8-4-4-4-12.
func TestAppendUUIDLayout(t *testing.T) {
	for _, tt := range []struct {
		in   [16]byte
		want string
	}{
		{[16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, "00010203-0405-0607-0809-0a0b0c0d0e0f"},
		{[16]byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}, "ffeeddcc-bbaa-9988-7766-554433221100"},
	} {
		if got := string(appendUUID([]byte("id="), &tt.in)); got != "id="+tt.want {
			t.Errorf("%x: %q, want %q", tt.in, got, "id="+tt.want)
		}
	}
}
